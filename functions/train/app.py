"""train: attendance import, training jobs (HTTP to ask, SQS to run), the model registry, schedules."""

from rollcall import training
from rollcall.api import imports, jobs, registry
from rollcall.handlers import make_handler, sqs_batch
from rollcall.http import create_app
from rollcall.settings import TrainSettings, load_settings

settings = load_settings(TrainSettings)
app = create_app("train", routers=[imports.router, registry.router, jobs.router], settings=settings)
handler = make_handler(
    http=app, sqs=sqs_batch(training.consumer(settings)), schedule=training.scheduled(settings)
)
