"""predict: attendance predictions (and the platform's health and identity routes)."""

from rollcall.api import predictions
from rollcall.api.app import create_app
from rollcall.platform.handlers import make_handler
from rollcall.platform.settings import PredictSettings, load_settings

settings = load_settings(PredictSettings)
app = create_app("predict", routers=[predictions.router], settings=settings)
handler = make_handler(http=app)
