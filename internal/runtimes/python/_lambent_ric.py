"""Lambent's runtime interface client for Python.

Started through bootstrap.py with the working directory at LAMBDA_TASK_ROOT, it imports the
handler named by _HANDLER once (the init phase), then loops on the Lambda Runtime API
(2018-06-01) at AWS_LAMBDA_RUNTIME_API: take the next event, call handler(event, context),
post the JSON result or the error, as AWS's Python runtimes do.

Standard library only, and as little of it as possible: every import is paid for by every cold
start. `logging` is configured only when the function imports it.
"""

import json
import os
import sys
import time

from _lambent_context import LambdaContext, json_header
from _lambent_rapid import RUNTIME, RuntimeAPI

# Frames of the runtime's own files are left out of the stack traces users see.
HERE = os.path.dirname(os.path.abspath(__file__))


class Fault(Exception):
    """An error of the runtime itself, reported with one of Lambda's Runtime.* types."""

    def __init__(self, error_type, message, trace=None):
        Exception.__init__(self, message)
        self.error_type, self.message, self.trace = error_type, message, trace or []


def error_result(error_type, message, trace, request_id=""):
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": trace}


def stack_trace(tb):
    """Formats a traceback as AWS does: one string per frame, the runtime's own leading frames left out."""
    import linecache

    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append((code.co_filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    first = 0
    while first < len(frames) - 1 and os.path.dirname(frames[first][0]) == HERE:
        first += 1
    out = []
    for filename, lineno, name in frames[first:]:
        item = '  File "%s", line %d, in %s\n' % (filename, lineno, name)
        line = linecache.getline(filename, lineno).strip()
        if line:
            item += "    %s\n" % line
        out.append(item)
    return out


def exception_result(exc, request_id=""):
    return error_result(type(exc).__name__, str(exc), stack_trace(exc.__traceback__), request_id)


def log_error(result):
    """Prints an error to stderr the way AWS's runtime logs it."""
    text = "[ERROR] " + result["errorType"]
    if result["errorMessage"]:
        text += ": " + result["errorMessage"]
    text += "\nTraceback (most recent call last):\n" + "".join(result["stackTrace"])
    _stderr(text.rstrip("\n"))


def _stderr(text):
    try:
        sys.stdout.flush()
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass


# --- init ---------------------------------------------------------------------------------------


def set_path(task_root):
    """Puts the task root and the layers' directories first on sys.path, as AWS does."""
    opt = os.environ.get("_LAMBENT_OPT_DIR") or "/opt"
    version = "python%d.%d" % sys.version_info[:2]
    first = [task_root, opt + "/python", opt + "/python/lib/%s/site-packages" % version]
    execution_env = os.environ.get("AWS_EXECUTION_ENV", "")
    if execution_env.startswith("AWS_Lambda_python"):
        named = execution_env[len("AWS_Lambda_"):]
        if named != version:
            first.append(opt + "/python/lib/%s/site-packages" % named)
    sys.path[:] = first + [p for p in sys.path if p not in first and p != HERE and p != ""]


def load_handler(name):
    try:
        module_name, function_name = name.rsplit(".", 1)
    except ValueError as e:
        raise Fault("Runtime.MalformedHandlerName", "Bad handler '%s': %s" % (name, e))
    import_name = module_name.replace("/", ".")
    if import_name.split(".")[0] in sys.builtin_module_names:
        raise Fault("Runtime.BuiltInModuleConflict",
                    "Cannot use built-in module %s as a handler module" % module_name)
    try:
        __import__(import_name)
        module = sys.modules[import_name]
    except ImportError as e:
        raise Fault("Runtime.ImportModuleError", "Unable to import module '%s': %s" % (module_name, e))
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise Fault("Runtime.UserCodeSyntaxError", "Syntax error in module '%s': %s" % (module_name, e), trace)
    handler = getattr(module, function_name, None)
    if handler is None:
        raise Fault("Runtime.HandlerNotFound",
                    "Handler '%s' missing on module '%s'" % (function_name, module_name))
    return handler


# The request id of the invocation in progress, for log records.
current = {"request_id": ""}


class _LoggingSetup:
    """A meta path finder that configures `logging` right after the function first imports it.

    The root logger gets AWS's handler and format ("[LEVEL]\\t<time>Z\\t<request id>\\t<message>"),
    and every record an aws_request_id attribute. Doing this only on demand keeps logging's
    import cost out of the cold starts of functions that never use it.
    """

    def find_spec(self, name, path=None, target=None):
        if name != "logging":
            return None
        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None and spec.loader is not None:
                self.loader, spec.loader = spec.loader, self
                return spec
        return None

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        configure_logging(module)


def configure_logging(logging):
    make_record = logging.getLogRecordFactory()

    def record_factory(*args, **kwargs):
        record = make_record(*args, **kwargs)
        record.aws_request_id = current["request_id"]
        return record

    logging.setLogRecordFactory(record_factory)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.terminator = ""
    handler.setFormatter(formatter)
    logging.getLogger().addHandler(handler)


def init(api):
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    set_path(task_root)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except (AttributeError, ValueError):
            pass
    if "logging" in sys.modules:
        configure_logging(sys.modules["logging"])
    else:
        sys.meta_path.insert(0, _LoggingSetup())
    try:
        return load_handler(os.environ.get("_HANDLER", ""))
    except Fault as e:
        result = error_result(e.error_type, e.message, e.trace)
    except Exception as e:
        result = exception_result(e)
    log_error(result)
    api.post("/init/error", json.dumps(result).encode("utf-8"), result["errorType"])
    sys.exit(1)


# --- invocations --------------------------------------------------------------------------------


def _default(value):
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)


encoder = json.JSONEncoder(ensure_ascii=False, default=_default)


def invoke(api, handler, headers, body):
    request_id = headers.get("lambda-runtime-aws-request-id", "")
    current["request_id"] = request_id
    trace_id = headers.get("lambda-runtime-trace-id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    context = LambdaContext(
        request_id,
        int(headers.get("lambda-runtime-deadline-ms") or 0),
        headers.get("lambda-runtime-invoked-function-arn"),
        json_header(headers.get("lambda-runtime-client-context")),
        json_header(headers.get("lambda-runtime-cognito-identity")),
    )
    try:
        event = json.loads(body) if body else None
    except ValueError as e:
        return fail(api, request_id, error_result("Runtime.UnmarshalError",
                                                  "Unable to unmarshal input: %s" % e, [], request_id))
    try:
        result = handler(event, context)
    except Exception as e:
        return fail(api, request_id, exception_result(e, request_id))
    try:
        payload = encoder.encode(result).encode("utf-8")
    except (TypeError, ValueError, OverflowError, RecursionError) as e:
        return fail(api, request_id, error_result("Runtime.MarshalError",
                                                  "Unable to marshal response: %s" % e, [], request_id))
    _flush()
    api.post("/invocation/%s/response" % request_id, payload)


def fail(api, request_id, result):
    log_error(result)
    api.post("/invocation/%s/error" % request_id, json.dumps(result).encode("utf-8"), result["errorType"])


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass


def main():
    api = RuntimeAPI(os.environ.get("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"))
    handler = init(api)
    while True:
        status, headers, body = api.request("GET", RUNTIME + "/invocation/next")
        if status != 200:
            _stderr("runtime api invocation/next: %d %s" % (status, body.decode("utf-8", "replace").strip()))
            sys.exit(1)
        invoke(api, handler, headers, body)
