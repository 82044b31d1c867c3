"""smoke: the deploy smoke test, CodeDeploy's PreTraffic hook of every function."""

from rollcall.platform.handlers import make_handler
from rollcall.platform.settings import SmokeSettings, load_settings
from rollcall.services import smoke

settings = load_settings(SmokeSettings)
handler = make_handler(hook=lambda event, context: smoke.on_pre_traffic(event, settings))
