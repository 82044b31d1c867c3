"""anomaly-scan: scans attendance for anomalies."""

from rollcall.handlers import make_handler
from rollcall.http import create_app
from rollcall.settings import AnomalyScanSettings, load_settings

settings = load_settings(AnomalyScanSettings)
app = create_app("anomaly-scan", settings=settings)
handler = make_handler(http=app)
