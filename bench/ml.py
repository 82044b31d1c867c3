"""Attendance prediction: quality against the oracle, prediction and training speed, import time.

Quality is measured on a fresh synthetic organisation (300 students × 16 weeks, seed 4242, which
no test uses): the model's holdout ROC-AUC next to the oracle's (the true probabilities of the
same holdout records), its calibration error, and a logistic regression on the same features as
a baseline. Speed: single and batch predictions in process (data and model in memory), training
on a 200,000-record organisation, importing the predictor path in a fresh process; then the
deployed predict function (the ``sam build`` output): its size with its layers and its handler's
import in a Lambda-like fresh process; and predictions over the local HTTP API of a running stack
(a seeded and trained organisation), next to the API's own floor (GET /health).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.harness import Report, Row, Section, ms, timeit

if TYPE_CHECKING:
    from collections.abc import Callable

    from rollcall.ml.model import AttendanceModel
    from rollcall.ml.train import Dataset, TrainedModel
    from testkit.synthetic import SyntheticHistory

ROOT = Path(__file__).resolve().parents[1]
SEED, STUDENTS, WEEKS = 4242, 300, 16
BIG_STUDENTS = 440  # × 16 weeks ≈ 200,000 records
BATCH = 100_000
ML_PATH = "import rollcall.ml.predictor, rollcall.ml.artifact"  # what the predict handler will import


def run(report: Report) -> None:
    from rollcall.ml import train
    from rollcall.ml.evaluate import metrics
    from rollcall.platform.observability import logger
    from testkit import synthetic

    logger.setLevel("WARNING")  # training logs its progress
    section = report.section(
        "Attendance prediction (predict, train)",
        "the oracle (true probabilities of the same holdout records); logistic regression on the same "
        "features; scikit-learn's own predict_proba; importing scikit-learn",
    )
    org = synthetic.generate("bench", STUDENTS, WEEKS, SEED, anomalies=False)
    data = train.build_dataset(org.records)
    trained = train.train(data)
    ho = data.holdout
    oracle = metrics(data.y[ho], org.truth(data.records)[ho])
    m = trained.metrics
    ratio = m["roc_auc"] / oracle["roc_auc"]
    section.rows += [
        Row(
            "holdout ROC-AUC (300 × 16 weeks)",
            f"{m['roc_auc']:.4f}",
            f"oracle {oracle['roc_auc']:.4f}",
            f"{ratio:.4f}x",
            "≥ 0.98x oracle",
            ratio >= 0.98,
        ),
        Row(
            "expected calibration error (15 bins)",
            f"{m['ece']:.4f}",
            f"oracle {oracle['ece']:.4f}",
            f"{m['ece']:.4f}",
            "≤ 0.03",
            m["ece"] <= 0.03,
        ),
        Row(
            "Brier score / log loss",
            f"{m['brier']:.4f} / {m['log_loss']:.4f}",
            f"oracle {oracle['brier']:.4f} / {oracle['log_loss']:.4f}",
            "n/a",
            "info",
            None,
        ),
        _baselineRow(data, oracle["roc_auc"]),
        Row(
            "arrival p10-p90 coverage, p50 pinball",
            f"{m['arrival_coverage_p10_p90']:.3f}, {m['arrival_pinball_p50']:.2f} min",
            "0.80 nominal",
            "n/a",
            "info",
            None,
        ),
        _anomalousRow(),
    ]
    clf = trained.params["classifier"]
    section.notes += [
        f"Holdout: {m['holdout_records']} records (the latest 20 % of {m['sessions']} sessions); trained on "
        f"{m['fit_records']} records, calibrated ({m['calibration']}) on the next "
        f"{m['calibration_records']}; {clf['max_iter']} trees of depth ≤ {clf['max_depth']}.",
        "The oracle knows every student's propensity and daily state; the model estimates them from at most "
        "16 weeks of records. The docstring of testkit.synthetic says why the world is built so.",
    ]
    _speed(section, org, _stored(trained), data)
    _training(section)
    _imports(section)
    _deployed(section)
    _over_http(section)


def _stored(trained: TrainedModel) -> AttendanceModel:
    """The model as the predict function gets it: through its artifact, checked by sha256."""
    from rollcall.ml import artifact

    art = artifact.dump(trained, model_type="attendance", scope="bench", version="v0001")
    return artifact.load(art.files[artifact.MODEL_FILE], art.sha256)


def _baselineRow(data: Dataset, oracle_auc: float) -> Row:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from rollcall.ml.evaluate import calibration_error, roc_auc

    ho = data.holdout
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(data.X[~ho], data.y[~ho])
    p = lr.predict_proba(data.X[ho])[:, 1]
    auc = roc_auc(data.y[ho], p)
    return Row(
        "baseline: logistic regression, same features",
        f"AUC {auc:.4f}, ECE {calibration_error(data.y[ho], p):.4f}",
        f"oracle {oracle_auc:.4f}",
        f"{auc / oracle_auc:.4f}x",
        "info",
        None,
    )


def _anomalousRow() -> Row:
    from rollcall.ml import train
    from rollcall.ml.evaluate import metrics
    from testkit import synthetic

    org = synthetic.generate("bench-anomalous", STUDENTS, WEEKS, SEED, anomalies=True)
    data = train.build_dataset(org.records)
    m = train.train(data).metrics
    oracle = metrics(data.y[data.holdout], org.truth(data.records)[data.holdout])
    return Row(
        "same organisation with injected anomalies (drift in the holdout)",
        f"AUC {m['roc_auc']:.4f}, ECE {m['ece']:.4f}",
        f"oracle {oracle['roc_auc']:.4f}",
        f"{m['roc_auc'] / oracle['roc_auc']:.4f}x",
        "info",
        None,
    )


def _speed(section: Section, org: SyntheticHistory, model: AttendanceModel, data: Dataset) -> None:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    from rollcall.ml.features import CLASS_WINDOW_DAYS, History
    from rollcall.ml.predictor import OrgStats, Predictor, Query

    history = History.from_records(org.records)
    predictor = Predictor(model, "v0001", OrgStats.from_records(org.records))
    last_week = [s for s in org.sessions if s.starts_at >= org.now - timedelta(days=7)]
    rng = np.random.default_rng(1)
    student = org.students[0]
    session = next(s for s in last_week if s.class_id in student.class_ids)
    one = Query(
        student.student_id, session.class_id, session.starts_at + timedelta(days=7), session.session_id
    )

    single = _p50(lambda: predictor.predict(history, [one]).item(0))
    # the reference: scikit-learn's predict_proba of the same kind of model for one row
    clf = HistGradientBoostingClassifier(max_iter=model.classifier.feature.shape[0], max_depth=3).fit(
        data.X[:20000], data.y[:20000]
    )
    row = data.X[-1:]
    sk_single = _p50(lambda: clf.predict_proba(row))
    section.rows.append(
        Row(
            "predict, single request, warm (history and model in memory)",
            ms(single),
            f"sklearn predict_proba alone {ms(sk_single)}",
            f"{single / sk_single:.2f}x",
            "p50 ≤ 5 ms",
            single <= 0.005,
        )
    )
    window = one.starts_at - timedelta(days=CLASS_WINDOW_DAYS)
    own = [r for r in org.records if r.student_id == one.student_id]
    klass = [r for r in org.records if r.class_id == one.class_id and r.starts_at >= window]

    def from_loaded_records() -> None:
        predictor.predict(History.from_records(own + klass), [one]).item(0)

    loaded = _p50(from_loaded_records)
    section.rows.append(
        Row(
            f"predict, single request from its loaded records ({len(own)} + {len(klass)})",
            ms(loaded),
            f"sklearn predict_proba alone {ms(sk_single)}",
            f"{loaded / sk_single:.2f}x",
            "p50 ≤ 5 ms",
            loaded <= 0.005,
        )
    )

    picks = zip(
        rng.integers(0, len(org.students), BATCH), rng.integers(0, len(last_week), BATCH), strict=True
    )
    queries = [
        Query(org.students[i].student_id, last_week[j].class_id, last_week[j].starts_at + timedelta(days=7))
        for i, j in picks
    ]
    batch = timeit(lambda: predictor.predict(history, queries), repeat=3)
    X = history.features(
        [q.student_id for q in queries], [q.class_id for q in queries], [q.starts_at for q in queries]
    )
    sk_batch = timeit(lambda: clf.predict_proba(X), repeat=3)
    section.rows.append(
        Row(
            f"predict, batch of {BATCH:,} (features, model, intervals, factors, arrival)",
            f"{batch:.2f} s",
            f"sklearn predict_proba alone {sk_batch:.2f} s",
            f"{batch / sk_batch:.2f}x",
            "≤ 2 s",
            batch <= 2.0,
        )
    )
    out = predictor.predict(history, queries)
    items = timeit(out.items, repeat=1, warmup=0)
    section.rows.append(
        Row(
            f"… and turning all {BATCH:,} into API dictionaries",
            f"{items:.2f} s",
            "n/a",
            "n/a",
            "info (an API batch is ≤ 10,000)",
            None,
        )
    )


def _training(section: Section) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from rollcall.ml import train
    from testkit import synthetic

    org = synthetic.generate("bench-big", BIG_STUDENTS, WEEKS, SEED + 1, anomalies=False)
    start = time.perf_counter()
    data = train.build_dataset(org.records)
    features = time.perf_counter() - start
    train.train(data)
    total = time.perf_counter() - start
    fit = data.fit
    ref_start = time.perf_counter()
    HistGradientBoostingClassifier(**train.CLASSIFIER_PARAMS).fit(data.X[fit], data.y[fit])
    reference = time.perf_counter() - ref_start
    section.rows.append(
        Row(
            f"train on {len(org.records):,} records (features, fit, calibration, arrival, metrics)",
            f"{total:.1f} s (features {features:.1f} s)",
            f"one sklearn fit of the classifier {reference:.1f} s",
            f"{total / reference:.2f}x",
            "≤ 60 s",
            total <= 60,
        )
    )


def _imports(section: Section) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT / 'local'}:{ROOT}"}
    ours = _fresh_import(f"{ML_PATH}, numpy", env)
    reference = _fresh_import("import sklearn.ensemble, joblib", env)
    section.rows.append(
        Row(
            "import of the predictor path (predictor, artifact, numpy), fresh process",
            ms(ours),
            f"sklearn.ensemble + joblib {ms(reference)}",
            f"{ours / reference:.2f}x",
            "info",
            None,
        )
    )


def _fresh_import(statement: str, env: dict[str, str], runs: int = 5) -> float:
    """Median wall time of a fresh interpreter running ``statement``, minus an empty interpreter's."""

    def once(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
        return time.perf_counter() - start

    empty = statistics.median(once("pass") for _ in range(runs))
    return max(statistics.median(once(statement) for _ in range(runs)) - empty, 0.0)


def _p50(fn: Callable[[], Any]) -> float:
    for _ in range(20):
        fn()
    times = []
    for _ in range(200):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- the deployed function and the local HTTP API -------------------------------------------------

HTTP_STUDENTS, HTTP_WEEKS, HTTP_SEED = 60, 8, 4243
HTTP_REQUESTS = 200
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024


def _deployed(section: Section) -> None:
    """The built predict function as a cold Lambda container would run it (bench.local_stack):
    ``Init Duration`` (importing the handler, from the bytecode the layers ship) and its size."""
    from bench.local_stack import cold_invocation, running_stack, unzipped_size

    with running_stack() as api:
        function = api.session.function("PredictFunction")
        event = api.event("GET", "/health", b"")
        runs = [cold_invocation(api.session, "PredictFunction", event) for _ in range(5)]
    init = statistics.median(r[0] for r in runs)
    first = statistics.median(r[1] for r in runs)
    section.rows.append(
        Row(
            "cold start of the built predict function: handler import (Init Duration), its layers only",
            ms(init),
            f"then its first invocation {ms(first)}",
            "n/a",
            "≤ 0.8 s",
            init <= 0.8,
        )
    )
    size = unzipped_size(function)
    section.rows.append(
        Row(
            "predict function + its layers, unzipped (sam build output)",
            f"{size / 2**20:.0f} MB",
            "Lambda's limit 250 MB",
            f"{size / LAMBDA_UNZIPPED_LIMIT:.2f}x",
            "≤ 250 MB",
            size <= LAMBDA_UNZIPPED_LIMIT,
        )
    )


def _over_http(section: Section) -> None:
    """A running stack (free ports, a temporary .local), an organisation seeded and trained through
    it, then single predictions over HTTP (warm workers, keep-alive), next to GET /health."""
    import tempfile
    from datetime import UTC, datetime

    import boto3

    from rollcall.store.table import OrgRecords
    from testkit import synthetic
    from testkit.seeding import store_history
    from tests.e2e.conftest import LocalStack  # the stack as `make run` starts it

    with tempfile.TemporaryDirectory() as local:
        stack = LocalStack(Path(local))
        stack.start()
        try:
            today = datetime.now(UTC).date()
            start = datetime.combine(
                today - timedelta(days=today.weekday(), weeks=HTTP_WEEKS), datetime.min.time(), UTC
            )
            org = synthetic.generate(
                "bench-http", HTTP_STUDENTS, HTTP_WEEKS, HTTP_SEED, start=start, anomalies=False
            )
            dynamodb = boto3.client(
                "dynamodb",
                endpoint_url=stack.endpoint,
                region_name="us-east-1",
                aws_access_key_id="testing",  # the local stack's key: the emulator refuses others
                aws_secret_access_key="testing",
            )
            store_history(OrgRecords("bench-http", "rollcall-local-records", client=dynamodb), org)
            _train_over_http(stack)
            teacher = stack.client("teacher", org="bench-http")
            last_week = [s for s in org.sessions if s.starts_at >= org.now - timedelta(days=7)][:6]
            asks = [
                {"student_id": st.student_id, "session_id": s.session_id}
                for s in last_week
                for st in org.students
                if s.class_id in st.class_ids
            ]
            per_student = len(org.records) / HTTP_STUDENTS

            def predict(i: int) -> None:
                answer = teacher.post("/v1/predictions", json=asks[i % len(asks)])
                assert answer.status_code == 200 and answer.json()["method"] == "model", answer.text

            def health(_: int) -> None:
                assert teacher.get("/health").status_code == 200

            p50, p90 = _http_times(predict)
            floor, _ = _http_times(health)
            section.rows.append(
                Row(
                    f"predict over the local HTTP API, warm ({HTTP_REQUESTS} requests, {len(asks)} queries)",
                    f"p50 {ms(p50)}, p90 {ms(p90)}",
                    f"GET /health p50 {ms(floor)}",
                    f"{p50 / floor:.1f}x",
                    "p50 ≤ 30 ms",
                    p50 <= 0.030,
                )
            )
            batch = [dict(a) for a in asks] * max(1, 1000 // len(asks))
            took = timeit(lambda: teacher.post("/v1/predictions/batch", json={"items": batch}), repeat=3)
            section.rows.append(
                Row(
                    f"batch of {len(batch):,} over the local HTTP API (predicted and recorded)",
                    f"{took:.2f} s",
                    "n/a",
                    "n/a",
                    "info",
                    None,
                )
            )
            section.notes.append(
                f"Over HTTP: an organisation of {HTTP_STUDENTS} students × {HTTP_WEEKS} weeks "
                f"({len(org.records):,} records, ~{per_student:.0f} per student) on the embedded emulator "
                "(moto). "
                "Each request reads the registry state and the last week of the student's records, and "
                "records the prediction; the warm container keeps each student's older records (read whole "
                "again every STUDENT_HISTORY_REFRESH_SECONDS), the session and the class's last four weeks. "
                f"The {HTTP_REQUESTS} requests cycle over the queries, so most students are asked again: "
                "the p50 is such a request; the p90 is a student's first request, which reads the whole "
                "history (about 40 ms of moto for ~230 records, where DynamoDB takes a few milliseconds)."
            )
        finally:
            stack.stop()


def _train_over_http(stack: Any) -> None:
    admin = stack.client("admin", org="bench-http")
    job = admin.post("/v1/models/attendance/train").json()["job_id"]
    deadline = time.monotonic() + 300
    while (status := admin.get(f"/v1/jobs/{job}").json()["status"]) not in ("succeeded", "failed"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"training job {job} did not finish")
        time.sleep(1)
    if status != "succeeded":
        raise RuntimeError(f"training job {job} failed: {admin.get(f'/v1/jobs/{job}').json()['error']}")


def _http_times(request: Callable[[int], None]) -> tuple[float, float]:
    """p50 and p90 seconds of ``HTTP_REQUESTS`` requests after 30 warm-up ones."""
    for i in range(30):
        request(i)
    times = []
    for i in range(HTTP_REQUESTS):
        start = time.perf_counter()
        request(i)
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]
