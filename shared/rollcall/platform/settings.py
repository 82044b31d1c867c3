"""Settings: one Pydantic model per function, read from the environment the template gives it.

Each function's ``app.py`` calls :func:`load_settings` once when the container starts, so a
missing or malformed variable fails the cold start with a message naming the variables, not
the first request with a ``KeyError``. Resource names have no defaults: a function that runs
without its table name configured is a deployment error, never a silent fallback.

Field ``records_table`` is read from ``RECORDS_TABLE`` (names are case-insensitive).
"""

from __future__ import annotations

from functools import cache
from typing import Self

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rollcall.platform import breaker
from rollcall.platform.errors import ConfigurationError


class FunctionSettings(BaseSettings):
    """What every function reads: its stage, the records table and how to verify tokens."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    stage: str = Field(description="deployment stage: local or prod")
    records_table: str = Field(min_length=3)

    # Auth: HS256 with a shared secret (local), or RS256/ES256 keys from a JWKS URL (production).
    auth_issuer: str = Field(min_length=1)
    auth_audience: str = Field(min_length=1)
    auth_jwks_url: str = ""
    auth_hs256_secret: SecretStr = SecretStr("")
    auth_leeway_seconds: int = Field(default=30, ge=0, le=300)

    # Circuit breakers (rollcall.platform.breaker): DynamoDB, S3 and the model loader, per container.
    circuit_failures: int = Field(
        default=5, ge=1, le=1000, description="consecutive failures or timeouts that open a breaker"
    )
    circuit_open_seconds: float = Field(
        default=30,
        gt=0,
        le=3600,
        description="an open breaker refuses calls this long (503 SERVICE_UNAVAILABLE with Retry-After, "
        "predictions their fallback), then lets one probe through",
    )

    # Rate limits (rollcall.services.rate_limits): a token bucket per (organisation, user) and one
    # per organisation, per route class; the organisation's is the user's times RATE_LIMIT_ORG_FACTOR.
    rate_limits_enabled: bool = Field(default=True, description="off: no bucket is read or written")
    rate_limit_org_factor: float = Field(
        default=10, ge=1, le=10_000, description="an organisation's bucket: the user's, this many times over"
    )
    rate_limit_reads_per_minute: int = Field(default=1200, ge=1, description="GET: tokens a minute")
    rate_limit_reads_burst: int = Field(default=200, ge=1, description="GET: the bucket's size")
    rate_limit_writes_per_minute: int = Field(default=300, ge=1, description="other writes")
    rate_limit_writes_burst: int = Field(default=100, ge=1)
    rate_limit_marking_per_minute: int = Field(
        default=120, ge=1, description="marking from a photo, photo uploads, enrolment, face search"
    )
    rate_limit_marking_burst: int = Field(default=120, ge=1)
    rate_limit_predictions_per_minute: int = Field(default=600, ge=1, description="POST /v1/predictions*")
    rate_limit_predictions_burst: int = Field(default=200, ge=1)
    rate_limit_imports_per_minute: int = Field(
        default=30, ge=1, description="imports, training and scans queued: the heavy work"
    )
    rate_limit_imports_burst: int = Field(default=30, ge=1)
    rate_limit_timeout_seconds: float = Field(
        default=1.0, gt=0, le=10, description="a bucket's update taking longer fails open"
    )

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        has_secret = bool(self.auth_hs256_secret.get_secret_value())
        if has_secret == bool(self.auth_jwks_url):
            raise ValueError("set exactly one of AUTH_JWKS_URL (RS256/ES256) or AUTH_HS256_SECRET (HS256)")
        if has_secret and len(self.auth_hs256_secret.get_secret_value()) < 32:
            raise ValueError("AUTH_HS256_SECRET must be at least 32 characters")
        return self


class FaceSettings(FunctionSettings):
    """Settings shared by the two face functions (thresholds, detector), read from ``FACE_*``.

    The defaults are the measured ones (see rollcall.face and BENCHMARKS.md); every field can be
    changed per stage in the template without a code change.
    """

    # Matching: Euclidean distance between 128-d dlib embeddings (dlib's own threshold is 0.6).
    face_confident_threshold: float = Field(
        default=0.5, gt=0, lt=2, description="a face within this distance of a student is marked present"
    )
    face_uncertain_threshold: float = Field(
        default=0.6,
        gt=0,
        lt=2,
        description="within this distance (and beyond the confident one) a face is 'uncertain', for review; "
        "beyond it the face is unknown",
    )

    # Decoding.
    face_max_image_bytes: int = Field(
        default=5 * 1024 * 1024, gt=0, description="largest decoded upload (5 MB, as Rekognition)"
    )
    face_max_pixels: int = Field(
        default=40_000_000,
        gt=0,
        description="decompression-bomb guard: a photo declaring more pixels in its header is refused "
        "before decoding (IMAGE_TOO_LARGE)",
    )
    face_max_side: int = Field(
        default=4096,
        ge=256,
        description="photos with a longer side are downscaled to it before detection (boxes are reported in "
        "the original photo's pixels); 4096 keeps a 12 MP phone photo at full resolution",
    )

    # Detection: dlib's HOG detector (80x80 window), over a pyramid scaled to the smallest face asked for.
    face_detect_min_px: int = Field(
        default=40,
        ge=20,
        le=200,
        description="the smallest face width (px) marking looks for: the photo is scaled by 80 / this "
        "before detection, within FACE_DETECT_MAX_PIXELS (rollcall.face.detect)",
    )
    face_detect_max_pixels: int = Field(
        default=35_000_000,
        ge=1_000_000,
        description="the most pixels the scaled photo may have (time and memory): a 12 MP photo is scanned "
        "at 1.69x instead of 2x",
    )
    face_detect_workers: int = Field(
        default=2, ge=1, le=8, description="threads a large scan is split across (dlib releases the GIL)"
    )
    face_detect_threshold: float = Field(
        default=0.0,
        ge=-1,
        le=1,
        description="added to the HOG detector's threshold: below 0 finds more faces and more false ones",
    )

    # Enrolment quality.
    face_min_face_px: int = Field(
        default=80, ge=20, description="enrolment refuses a face whose box side is smaller (FACE_TOO_SMALL)"
    )
    face_blur_threshold: float = Field(
        default=15.0,
        ge=0,
        description="enrolment refuses a face whose sharpness (variance of the Laplacian of the aligned "
        "face) is lower (LOW_QUALITY); portraits measure 76 and more, obama.jpg blurred (radius 4) 11",
    )
    face_max_faces_per_student: int = Field(
        default=10, ge=1, le=100, description="embeddings kept per student (FACE_LIMIT beyond)"
    )

    # Encoding.
    face_num_jitters: int = Field(
        default=1,
        ge=1,
        le=100,
        description="1 encodes each face once; N > 1 averages N randomly jittered copies (with dlib's own "
        "encoder, about N x 75 ms per face: slower, slightly more stable)",
    )
    face_models_dir: str = Field(
        default="",
        description="folder with the dlib model files; empty: the installed face_recognition_models package",
    )

    # Raw photos: not kept unless the deployment asks (template parameter StorePhotos).
    face_store_photos: bool = Field(
        default=False,
        description="keep each enrolment and marking photo in PHOTO_BUCKET, whose lifecycle rule deletes it "
        "after the template's PhotoRetentionDays",
    )
    photo_bucket: str = Field(
        min_length=3,
        description="the bucket of kept photos; erasing a student deletes theirs from it even when "
        "FACE_STORE_PHOTOS is off (photos kept while it was on)",
    )

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Self:
        if self.face_uncertain_threshold < self.face_confident_threshold:
            raise ValueError("FACE_UNCERTAIN_THRESHOLD must be at least FACE_CONFIDENT_THRESHOLD")
        return self


class EncodeFaceSettings(FaceSettings):
    scan_cache_bucket: str | None = Field(
        default=None, description="erasing a student deletes the anomaly scan's cached window here"
    )


class MarkAttendanceSettings(FaceSettings):
    pass


class ModelSettings(FunctionSettings):
    """What the two model functions share: the registry, the artifacts, alerts, prediction history."""

    model_bucket: str = Field(min_length=3, description="the S3 bucket of model artifacts")
    registry_table: str = Field(min_length=3, description="the DynamoDB model registry table")
    alert_queue_url: str = Field(
        min_length=8, description="the SQS queue alerts go to (a model artifact failing its integrity check)"
    )
    prediction_retention_days: int = Field(
        default=365,
        ge=1,
        le=3650,
        description="prediction history is kept this long (the items' TTL; a daily job removes it promptly)",
    )


class JobSettings(ModelSettings):
    """What a function that queues jobs or reads their files needs (predict, train)."""

    jobs_queue_url: str | None = Field(
        default=None, description="the SQS queue of jobs (long work answered 202 with a job id)"
    )
    job_files_bucket: str | None = Field(
        default=None, description="the bucket of jobs' inputs and results (rollcall.store.job_results)"
    )


class PredictSettings(JobSettings):
    model_cache_ttl_seconds: int = Field(
        default=3600,
        ge=0,
        le=86_400,
        description="a loaded model (checked by sha256) is reused by a warm container this long, then "
        "read and checked again; an artifact that failed its check is not retried sooner",
    )
    history_cache_ttl_seconds: int = Field(
        default=60,
        ge=0,
        le=3600,
        description="sessions and the classes' recent attendance (the class_rate_4w feature) are reused "
        "by a warm container this long",
    )
    student_history_refresh_seconds: int = Field(
        default=600,
        ge=0,
        le=86_400,
        description="a warm container keeps each student's records and reads again only the last "
        "7 days of them per request (new, late and corrected markings land there); older records are read "
        "again after this long, so a change to a record older than a week (a back-dated import, a "
        "correction of an old session) reaches predictions within it. 0: the whole history every request",
    )


class TrainSettings(JobSettings):
    training_queue_url: str = Field(min_length=8, description="the SQS queue of training jobs")
    job_heartbeat_seconds: int = Field(
        default=120,
        ge=2,
        description="the lease of a running job of the jobs queue, renewed at every progress report: "
        "a job whose worker died is taken over this long after its last report",
    )
    training_window_days: int = Field(
        default=365,
        ge=28,
        le=3650,
        description="training reads the attendance of sessions that started in this many days before now",
    )
    min_useful_auc: float = Field(
        default=0.55,
        ge=0.5,
        le=1.0,
        description="a trained version whose holdout ROC-AUC is below this is never activated (its job "
        "result says why, beside the active version's score)",
    )
    job_lease_seconds: int = Field(
        default=960,
        ge=60,
        description="a running job whose attempt has not finished after this long (longer than the "
        "function's 900 s timeout) may be taken over by a redelivery of its message",
    )


class AnomalyScanSettings(FunctionSettings):
    """The anomaly scan: its queue and registry, and every detector's threshold (``ANOMALY_*``).

    The defaults are the ones measured in ``bench/anomaly.py`` (recall 1.0 on the injected set, at
    most one false alarm per 100 students per scan on a clean organisation); the rules they enter
    are in ``rollcall.anomaly``.
    """

    alert_queue_url: str = Field(min_length=8)
    registry_table: str = Field(min_length=3)
    model_bucket: str = Field(min_length=3, description="the active model is read from here for drift")
    jobs_queue_url: str | None = Field(
        default=None, description="the SQS queue of jobs: POST /v1/anomalies/scan queues a scan there"
    )

    # What a scan reads.
    anomaly_history_days: int = Field(
        default=112,
        ge=35,
        le=400,
        description="attendance read per scan, in days back from now: the students' and classes' own "
        "history (16 weeks)",
    )
    scan_cache_bucket: str | None = Field(
        default=None,
        description="the scan's window cache (rollcall.store.window_cache); unset: every scan reads "
        "the whole window",
    )
    anomaly_cache_max_age_hours: float = Field(
        default=24,
        gt=0,
        le=168,
        description="a cached window older than this is read again whole (a full read at least this "
        "often, whatever the change index says)",
    )
    anomaly_read_workers: int = Field(
        default=4, ge=1, le=32, description="parallel reads of the attendance window (one per week slice)"
    )
    anomaly_dedupe_hours: float = Field(
        default=24, gt=0, description="the same (type, subject) is not raised again within this many hours"
    )

    # 1. Attendance drop.
    anomaly_drop_window_days: int = Field(
        default=14, ge=7, description="the recent window compared with the student's own history before it"
    )
    anomaly_drop_min_z: float = Field(
        default=2.5,
        gt=0,
        description="how many standard errors the window's rate must lie below the student's own history",
    )
    anomaly_drop_min_points: float = Field(
        default=0.30, gt=0, le=1, description="and by at least this much (0.30: 30 percentage points)"
    )
    anomaly_drop_min_window_records: int = Field(
        default=6, ge=1, description="sessions a student needs in the window to be judged"
    )
    anomaly_drop_min_history_records: int = Field(
        default=20, ge=1, description="sessions a student needs before the window to have a history"
    )

    # 2. Chronic absence.
    anomaly_chronic_window_days: int = Field(
        default=28, ge=7, description="the window chronic absence is judged on"
    )
    anomaly_chronic_below: float = Field(
        default=0.60,
        gt=0,
        le=1,
        description="a student attending less than this share of sessions is chronic",
    )
    anomaly_chronic_min_records: int = Field(
        default=8, ge=1, description="sessions a student needs in the window to be judged"
    )

    # 3. Session collapse.
    anomaly_collapse_lookback_days: int = Field(
        default=7, ge=1, description="sessions that started this recently are judged against their class"
    )
    anomaly_collapse_min_sd: float = Field(
        default=3.0, gt=0, description="standard deviations below the class's usual session rate"
    )
    anomaly_collapse_min_drop: float = Field(
        default=0.20,
        ge=0,
        le=1,
        description="and at least this far below it (a class that varies little is not alarmed by a few "
        "absences)",
    )
    anomaly_collapse_sd_floor: float = Field(
        default=0.05, gt=0, description="the class's standard deviation is taken to be at least this"
    )
    anomaly_collapse_min_students: int = Field(
        default=10, ge=2, description="a session needs this many records to be judged"
    )
    anomaly_collapse_min_class_sessions: int = Field(
        default=5, ge=2, description="other sessions of the class needed to know its usual rate"
    )

    # 4. Proxy attendance.
    anomaly_proxy_lookback_days: int = Field(
        default=14, ge=1, description="overlapping sessions and faces matching two students: how far back"
    )
    anomaly_proxy_corrections_days: int = Field(
        default=28, ge=1, description="window for repeated corrections of face-based absences"
    )
    anomaly_proxy_min_corrections: int = Field(
        default=3,
        ge=2,
        description="a student's face-based absences corrected to present this often in the window",
    )

    # 5. Unusual check-in.
    anomaly_checkin_lookback_days: int = Field(
        default=7, ge=1, description="arrivals and records this recent are checked"
    )
    anomaly_checkin_margin_minutes: float = Field(
        default=20,
        gt=0,
        description="an arrival this far outside the student's usual window (p10-p90 of their arrivals, "
        "widened to the window's own width when that is more) is unusual",
    )
    anomaly_checkin_min_history: int = Field(
        default=10, ge=3, description="known arrivals a student needs for a usual window"
    )
    anomaly_checkin_session_share: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="when more than this share of a session's arrivals are unusual, the photo was late, "
        "not the students: none is reported",
    )
    anomaly_checkin_grace_minutes: float = Field(
        default=60,
        ge=0,
        description="a face record written more than this before its session's start or after its end was "
        "created outside the session window",
    )

    # 6. Matching health.
    anomaly_health_baseline_days: int = Field(
        default=30, ge=2, description="the usual share of uncertain and unknown faces is taken over this"
    )
    anomaly_health_ratio: float = Field(
        default=2.0, gt=1, description="the last day's share must be at least this multiple of the usual"
    )
    anomaly_health_min_share: float = Field(
        default=0.05, ge=0, le=1, description="and at least this share (0.2 % against 0.1 % is no alarm)"
    )
    anomaly_health_min_faces: int = Field(
        default=50, ge=1, description="faces the last day needs to be judged"
    )
    anomaly_health_max_idle_days: float = Field(
        default=3,
        gt=0,
        description="the last day is the 24 h up to the latest marking; older than this, nothing is judged",
    )

    # 7. Model drift.
    anomaly_drift_window_days: int = Field(
        default=14, ge=1, description="recent records whose features are compared with training"
    )
    anomaly_drift_psi: float = Field(
        default=0.2, gt=0, description="a feature whose population stability index exceeds this has drifted"
    )
    anomaly_calibration_gap: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="calibration drift: observed attendance this far from the mean predicted probability",
    )
    anomaly_drift_min_records: int = Field(
        default=500, ge=10, description="recent usable records needed to judge drift"
    )


def load_settings[S: FunctionSettings](cls: type[S]) -> S:
    """Read and validate ``cls`` from the environment; a clear ConfigurationError otherwise.

    The error names each offending variable and why, never its value (values may be secrets).
    """
    try:
        settings = cls()  # type: ignore[call-arg]  # fields come from the environment
    except ValidationError as e:
        problems = []
        for err in e.errors(include_input=False, include_url=False):
            name = "_".join(str(p) for p in err["loc"]).upper() or cls.__name__
            problems.append(f"{name}: {err['msg']}")
        raise ConfigurationError({"settings": cls.__name__, "problems": problems}) from None
    breaker.configure(failures=settings.circuit_failures, open_seconds=settings.circuit_open_seconds)
    return settings


@cache
def cached_settings[S: FunctionSettings](cls: type[S]) -> S:
    """:func:`load_settings` once per container (per class)."""
    return load_settings(cls)


class SmokeSettings(FunctionSettings):
    """The deploy smoke test (PreTraffic hook): the new versions to try, the canary organisation."""

    canary_org: str = Field(min_length=2)
    smoke_token_parameter: str = ""
    smoke_target_encode_face: str = ""
    smoke_target_mark_attendance: str = ""
    smoke_target_predict: str = ""
    smoke_target_train: str = ""
    smoke_target_anomaly_scan: str = ""

    def targets(self) -> dict[str, str]:
        """function (service name) → the qualified ARN of its version to try; only those given."""
        found = {
            "encode-face": self.smoke_target_encode_face,
            "mark-attendance": self.smoke_target_mark_attendance,
            "predict": self.smoke_target_predict,
            "train": self.smoke_target_train,
            "anomaly-scan": self.smoke_target_anomaly_scan,
        }
        return {name: arn for name, arn in found.items() if arn}
