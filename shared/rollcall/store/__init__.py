"""The only package that talks to AWS (boto3). Everything else receives a repository object.

- ``clients``: every boto3 client is made here, honouring ``AWS_ENDPOINT_URL`` (the embedded
  emulator, LocalStack, or nothing for real AWS).
- ``records``: the records table, scoped by organisation (``OrgRecords``): no code path can
  build, read or write a key of another organisation.
- ``ClientError`` codes become typed domain errors here (``translate``), raised ``from`` the
  original so the cause stays in the logs.
"""
