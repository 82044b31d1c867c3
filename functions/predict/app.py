"""predict: attendance predictions, the registry's and jobs' reads (the template routes only the GETs
of those two routers here; asking for training, activation and traffic stay on train), and the
platform's health and identity routes."""

from rollcall.api import jobs, predictions, registry
from rollcall.api.app import create_app
from rollcall.platform.handlers import make_handler
from rollcall.platform.settings import PredictSettings, load_settings

settings = load_settings(PredictSettings)
app = create_app("predict", routers=[predictions.router, registry.router, jobs.router], settings=settings)
handler = make_handler(http=app)
