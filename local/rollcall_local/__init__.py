"""rollcall_local: the local stand-in for ``sam local`` and LocalStack. Never deployed.

It runs the ``sam build`` output (.aws-sam/build/template.yaml and the built function and layer
folders) on this machine without Docker. Every resource, route, queue mapping and schedule comes
from the built template; there is no second list.

Commands (``python -m rollcall_local <command> --help``; the Makefile targets call them):

    make run | make serve          python -m rollcall_local run [--api-port N] [--emulator-port N]
    make invoke FN=PredictFunction EVENT=events/predict-health.json
                                   python -m rollcall_local invoke <LogicalId> --event <file>
    make fire SCHEDULE=AnomalyScanFunctionScanSchedule   (SCHEDULE=list lists them)
                                   python -m rollcall_local fire <LogicalId|EventName|list>
    make token ROLE=teacher ORG=demo SUB=alice
                                   python -m rollcall_local token --role R --org O --sub S
    make reset                     python -m rollcall_local reset
                                   python -m rollcall_local render-event <file>

What ``run`` serves (127.0.0.1 only):
- the HTTP API on :3000 (ROLLCALL_API_PORT): the template's HttpApi routes as API Gateway
  payload 2.0 events; ``/openapi.json`` (all functions' documents merged) and ``/docs``;
- AWS on :4566 (ROLLCALL_EMULATOR_PORT): moto's server, embedded, behind a front that refuses
  browser origins and requests not signed with the local key, and sends DynamoDB to dynalite
  (LevelDB under .local/state; :mod:`rollcall_local.dynamodb`), unless AWS_ENDPOINT_URL names
  another endpoint (LocalStack, AWS), which is then used as is. Point boto3 or the AWS CLI at it
  with ``AWS_ENDPOINT_URL=http://127.0.0.1:4566`` and the key ``testing`` (any secret);
- SQS event sources polled and delivered in batches (partial batch failures, DLQ redrive);
- EventBridge schedules fired on their rate()/cron() (in UTC) and on demand (``make fire``).

Files (``.local/``, git-ignored; ROLLCALL_LOCAL_DIR moves it): ``jwt-secret`` (the HS256 secret
given to the functions as the template's JwtSecret; mode 0600), ``state/`` (DynamoDB's LevelDB, written as
it goes; S3 objects and SQS messages written within a second of a change, restored on start;
embedded emulator only; folders 0700, files 0600), ``logs/<Function>.log``
(the functions' output), ``runtime/`` (what the Lambda python3.12 runtime provides: boto3 & co.).

Other variables: ROLLCALL_PROJECT_DIR, ROLLCALL_BUILD_DIR, ROLLCALL_CONFIG_ENV (samconfig env,
``local``: stack name and parameter_overrides), ROLLCALL_CONCURRENCY (warm workers per function,
4), AWS_REGION / AWS_DEFAULT_REGION (us-east-1). See :mod:`rollcall_local.config`.

Event files may hold ``{{token:<role>:<org>:<sub>}}``; ``invoke`` and ``render-event`` replace it
with a fresh dev token.

Modules, from the template to the running stack: config, cfn (YAML and intrinsics), template
(typed views), emulator, provision, state, devauth, runtime + bootstrap (a function's process),
invoke (workers and pools), session (what every command needs), apigw + api + openapi (HTTP),
sqs, cron + schedules, console, stack (all of it running), commands/ (the CLI; add a command there).
"""
