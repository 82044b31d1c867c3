"""train: attendance import, training jobs (HTTP to ask, SQS to run), the jobs queue's worker
(anomaly scans, prediction batches, uploaded imports), the model registry, schedules."""

from datetime import timedelta

from rollcall.api import imports, jobs, registry
from rollcall.api.app import create_app
from rollcall.platform.handlers import make_handler, sqs_batch
from rollcall.platform.settings import AnomalyScanSettings, PredictSettings, TrainSettings, load_settings
from rollcall.services import import_jobs, prediction_jobs, scanning, stores, training
from rollcall.services import jobs as job_service

settings = load_settings(TrainSettings)
scan_settings = load_settings(AnomalyScanSettings)
runners = {
    "anomaly_scan": scanning.scan_runner(scan_settings, scanning.wiring(scan_settings)),
    "prediction_batch": prediction_jobs.batch_runner(load_settings(PredictSettings)),
    "attendance_import": import_jobs.import_runner(settings),
}
work = job_service.consumer(
    lambda org: stores.records(settings, org), runners, timedelta(seconds=settings.job_heartbeat_seconds)
)
app = create_app("train", routers=[imports.router, registry.router, jobs.router], settings=settings)
handler = make_handler(
    http=app,
    sqs=sqs_batch(job_service.record_handler(training.consumer(settings), work, import_jobs.uploads)),
    schedule=training.scheduled(settings),
)
