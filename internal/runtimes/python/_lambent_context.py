"""The context object of Lambent's Python runtime, with the attributes AWS's has."""

import json
import os
import sys
import time


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, fields=None):
        fields = fields or {}
        self.cognito_identity_id = fields.get("cognitoIdentityId")
        self.cognito_identity_pool_id = fields.get("cognitoIdentityPoolId")

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id=%s,cognito_identity_pool_id=%s])" % (
            self.cognito_identity_id, self.cognito_identity_pool_id)


class Client:
    __slots__ = ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")

    def __init__(self, fields):
        for name in self.__slots__:
            setattr(self, name, fields.get(name))

    def __repr__(self):
        return "Client(%s)" % ",".join("%s=%s" % (n, getattr(self, n)) for n in self.__slots__)


class ClientContext:
    __slots__ = ("client", "custom", "env")

    def __init__(self, fields):
        client = fields.get("client")
        self.client = Client(client) if isinstance(client, dict) else client
        self.custom = fields.get("custom")
        self.env = fields.get("env")

    def __repr__(self):
        return "ClientContext([client=%s,custom=%s,env=%s])" % (self.client, self.custom, self.env)


class LambdaContext:
    """The context object a handler receives, with AWS's attribute names."""

    def __init__(self, request_id, deadline_ms, function_arn, client_context, identity):
        env = os.environ
        self.aws_request_id = request_id
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.client_context = ClientContext(client_context) if isinstance(client_context, dict) else None
        self.identity = CognitoIdentity(identity if isinstance(identity, dict) else None)
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            "LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,function_name=%s,"
            "memory_limit_in_mb=%s,function_version=%s,invoked_function_arn=%s,client_context=%s,identity=%s])"
            % (self.aws_request_id, self.log_group_name, self.log_stream_name, self.function_name,
               self.memory_limit_in_mb, self.function_version, self.invoked_function_arn,
               self.client_context, self.identity))


def json_header(value):
    """Parses a JSON header (client context, Cognito identity); base64-encoded JSON is accepted too."""
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        pass
    try:
        import base64

        return json.loads(base64.b64decode(value))
    except Exception:
        return None
