"""anomaly-scan: scans attendance for anomalies every 6 hours and on demand; lists and reviews them."""

from rollcall.api import anomalies
from rollcall.api.app import create_app
from rollcall.platform.handlers import make_handler
from rollcall.platform.settings import AnomalyScanSettings, load_settings
from rollcall.services import scanning

settings = load_settings(AnomalyScanSettings)
wiring = scanning.wiring(settings)
app = create_app("anomaly-scan", routers=[anomalies.router], settings=settings)
app.state.scan_wiring = wiring
handler = make_handler(http=app, schedule=scanning.on_schedule(settings, wiring))
