"""train: attendance import, training jobs (HTTP to ask, SQS to run), the model registry, schedules."""

from rollcall.api import imports, jobs, registry
from rollcall.api.app import create_app
from rollcall.platform.handlers import make_handler, sqs_batch
from rollcall.platform.settings import TrainSettings, load_settings
from rollcall.services import training

settings = load_settings(TrainSettings)
app = create_app("train", routers=[imports.router, registry.router, jobs.router], settings=settings)
handler = make_handler(
    http=app, sqs=sqs_batch(training.consumer(settings)), schedule=training.scheduled(settings)
)
