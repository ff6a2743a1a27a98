// Lambent's runtime interface client for Node.js.
//
// Started as `node bootstrap.cjs` with the working directory at LAMBDA_TASK_ROOT, it loads the
// module named by _HANDLER once (the init phase), then loops on the Lambda Runtime API
// (2018-06-01) at AWS_LAMBDA_RUNTIME_API: take the next event, call handler(event, context,
// callback), post the JSON result or the error, as AWS's Node.js runtimes do.
//
// Built-in modules only. Handlers may be async (the promise settles the invocation), or call
// the callback, or context.done/succeed/fail. With the callback and
// context.callbackWaitsForEmptyEventLoop (the default), the response is posted when Node's
// event loop has drained, which Node signals with 'beforeExit'; that is exact, not an
// approximation: the Runtime API socket is idle and unreferenced meanwhile (client.cjs).
//
// The client is CommonJS, not an ES module: node starts a CommonJS entry without its ES module
// loader, which saves about 6 ms of a cold start (19 against 26 ms to the handler loaded, for a
// CommonJS handler, on the 2-core machines here). ES module handlers load through import() and
// cost the same either way.

'use strict';

const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { format } = require('node:util');

const { RUNTIME, RuntimeAPI } = require('./client.cjs');

const env = process.env;
const taskRoot = env.LAMBDA_TASK_ROOT || process.cwd();

// --- logs -------------------------------------------------------------------------------------

// Libraries (Powertools, the X-Ray SDK) read the request id from this global, as on AWS.
const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');
global[REQUEST_ID] = undefined;

// console.* lines carry AWS's prefix: time, request id ("undefined" during init), level.
function patchConsole() {
  const levels = {
    log: 'INFO', info: 'INFO', warn: 'WARN', error: 'ERROR', debug: 'DEBUG', trace: 'TRACE', fatal: 'FATAL',
  };
  for (const [method, level] of Object.entries(levels)) {
    console[method] = (...args) => {
      process.stdout.write(`${new Date().toISOString()}\t${global[REQUEST_ID]}\t${level}\t${format(...args)}\n`);
    };
  }
}

// --- errors -----------------------------------------------------------------------------------

function runtimeError(type) {
  const E = class extends Error {};
  E.prototype.name = `Runtime.${type}`;
  return E;
}
const ImportModuleError = runtimeError('ImportModuleError');
const HandlerNotFound = runtimeError('HandlerNotFound');
const MalformedHandlerName = runtimeError('MalformedHandlerName');
const UserCodeSyntaxError = runtimeError('UserCodeSyntaxError');
const UnhandledPromiseRejection = runtimeError('UnhandledPromiseRejection');

// errorPayload shapes an error as AWS's Node runtime posts it.
function errorPayload(err) {
  try {
    if (err instanceof Error || (err && typeof err === 'object' && 'name' in err && 'message' in err && 'stack' in err)) {
      return {
        errorType: String(err.name),
        errorMessage: String(err.message),
        trace: typeof err.stack === 'string' ? err.stack.split('\n') : [],
      };
    }
    return { errorType: typeof err, errorMessage: String(err), trace: [] };
  } catch {
    return { errorType: 'handled', errorMessage: 'the error could not be read (its name, message or stack threw)', trace: [] };
  }
}

function logError(label, payload) {
  const { errorType, errorMessage, trace } = payload;
  console.error(`${label} \t${JSON.stringify({ errorType, errorMessage, stack: trace })}`);
}

// --- Runtime API ------------------------------------------------------------------------------

const api = new RuntimeAPI(env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001');

function post(urlPath, payload, errorType) {
  return api.post(urlPath, payload, errorType);
}

function postError(urlPath, err) {
  const payload = errorPayload(err);
  return post(urlPath, JSON.stringify(payload), payload.errorType);
}

// --- init -------------------------------------------------------------------------------------

// setNodePath gives the function AWS's NODE_PATH when the server did not set one.
function setNodePath() {
  if (env.NODE_PATH) return;
  const opt = env._LAMBENT_OPT_DIR || '/opt';
  const named = /^AWS_Lambda_nodejs(\d+)/.exec(env.AWS_EXECUTION_ENV || '');
  const major = named ? named[1] : process.versions.node.split('.')[0];
  env.NODE_PATH = [
    `${opt}/nodejs/node${major}/node_modules`, `${opt}/nodejs/node_modules`,
    '/var/runtime/node_modules', '/var/runtime', taskRoot,
  ].join(':');
  Module._initPaths(); // re-reads NODE_PATH for require()
}

function isModuleType(file) {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    try {
      return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).type === 'module';
    } catch (err) {
      if (err.code !== 'ENOENT' && err.code !== 'ENOTDIR') return false;
    }
    if (dir === path.dirname(dir)) return false;
  }
}

// loadModule loads <dir>/<name> as AWS does: name.js (CommonJS, or ES module under
// "type":"module"), name.mjs, name.cjs, and otherwise whatever require() resolves.
async function loadModule(dir, name) {
  const base = path.resolve(dir, name);
  for (const ext of ['.js', '.mjs', '.cjs']) {
    const file = base + ext;
    if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile()) continue;
    if (ext === '.mjs' || (ext === '.js' && isModuleType(file))) {
      return import(pathToFileURL(file).href);
    }
    try {
      return require(file);
    } catch (err) {
      if (err.code === 'ERR_REQUIRE_ESM') return import(pathToFileURL(file).href);
      throw err;
    }
  }
  return require(require.resolve(name, { paths: [dir, taskRoot] }));
}

async function loadHandler(handlerString) {
  if (handlerString.includes('..')) {
    throw new MalformedHandlerName("'../' not allowed in handler name");
  }
  const base = path.basename(handlerString);
  const moduleRoot = handlerString.slice(0, handlerString.length - base.length);
  const match = /^([^.]*)\.(.*)$/.exec(base);
  if (!match) throw new MalformedHandlerName(`Bad handler ${handlerString}`);
  const [, moduleName, functionPath] = match;
  let app;
  try {
    app = await loadModule(path.resolve(taskRoot, moduleRoot), moduleName);
  } catch (err) {
    if (err instanceof SyntaxError) throw new UserCodeSyntaxError(String(err));
    if (err && (err.code === 'MODULE_NOT_FOUND' || err.code === 'ERR_MODULE_NOT_FOUND')) {
      throw new ImportModuleError(String(err));
    }
    throw err;
  }
  let fn = app;
  for (const key of functionPath.split('.')) fn = fn == null ? undefined : fn[key];
  if (typeof fn !== 'function') throw new HandlerNotFound(`${handlerString} is undefined or not exported`);
  return fn;
}

// --- invocations ------------------------------------------------------------------------------

// What to do when the event loop drains: answer a callback-style invocation. Set per invocation.
let onDrained = null;
process.on('beforeExit', () => {
  const action = onDrained;
  onDrained = null;
  if (action) action();
});

// The invocation in progress, for uncaught errors.
let current = null;
let initDone = false;

function parseJSONHeader(value) {
  if (!value) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    try {
      return JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
    } catch {
      return undefined;
    }
  }
}

// invoke runs one invocation and resolves once its result has been posted.
function invoke(handler, headers, body) {
  return new Promise((settled) => {
    const id = headers['lambda-runtime-aws-request-id'];
    const deadline = Number(headers['lambda-runtime-deadline-ms']);
    global[REQUEST_ID] = id;
    if (headers['lambda-runtime-trace-id']) env._X_AMZN_TRACE_ID = headers['lambda-runtime-trace-id'];
    else delete env._X_AMZN_TRACE_ID;

    let done = false;
    const finish = (err, result, logged) => {
      if (done) {
        console.warn('Invocation has already been reported as done. Cannot call complete more than once per invocation.');
        return Promise.resolve();
      }
      done = true;
      onDrained = null;
      current = null;
      let sent;
      if (err !== undefined && err !== null) {
        if (!logged) logError('Invoke Error', errorPayload(err));
        sent = postError(`/invocation/${id}/error`, err);
      } else {
        let payload;
        try {
          payload = JSON.stringify(result === undefined ? null : result);
        } catch (e) {
          const failure = new Error(`Unable to stringify response body: ${e.message}`);
          logError('Invoke Error', errorPayload(failure));
          sent = postError(`/invocation/${id}/error`, failure);
        }
        if (!sent) sent = post(`/invocation/${id}/response`, payload === undefined ? 'null' : payload);
      }
      sent.then(settled, (e) => {
        process.stderr.write(`runtime api: ${e.stack || e}\n`);
        process.exit(1);
      });
      return sent;
    };
    current = { fail: (err) => finish(err, undefined, true) };

    let waitForEmptyEventLoop = true;
    const callback = (err, result) => {
      if (done) return;
      if ((err !== undefined && err !== null) || !waitForEmptyEventLoop) {
        finish(err, result);
      } else {
        onDrained = () => setImmediate(() => finish(null, result));
      }
    };
    const contextDone = (err, result) => finish(err, result);
    const context = {
      get callbackWaitsForEmptyEventLoop() { return waitForEmptyEventLoop; },
      set callbackWaitsForEmptyEventLoop(value) { waitForEmptyEventLoop = value; },
      succeed: (result) => contextDone(null, result),
      fail: (err) => contextDone(err === undefined || err === null ? 'handled' : err),
      done: contextDone,
      functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
      functionName: env.AWS_LAMBDA_FUNCTION_NAME,
      memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
      clientContext: parseJSONHeader(headers['lambda-runtime-client-context']),
      identity: parseJSONHeader(headers['lambda-runtime-cognito-identity']),
      invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
      awsRequestId: id,
      getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
    };

    let event;
    try {
      event = body.length ? JSON.parse(body) : null;
    } catch (e) {
      const failure = new (runtimeError('UnmarshalError'))(`Unable to unmarshal input: ${e.message}`);
      finish(failure);
      return;
    }
    // A handler that neither answers nor leaves work behind answers null, as on AWS.
    onDrained = () => finish(null, null);
    try {
      const result = handler(event, context, callback);
      if (result && typeof result.then === 'function') {
        result.then((value) => { if (!done) finish(null, value); }, (err) => {
          if (!done) finish(err === undefined || err === null ? new Error(String(err)) : err);
        });
      }
    } catch (err) {
      finish(err === undefined || err === null ? new Error(String(err)) : err);
    }
  });
}

// Errors nothing caught end the environment, as on AWS: they fail the invocation in progress
// (or the init phase) first.
function fatal(label, err) {
  logError(label, errorPayload(err));
  let sent = Promise.resolve();
  if (current) {
    sent = current.fail(err);
  } else if (!initDone) {
    initDone = true;
    sent = postError('/init/error', err);
  }
  sent.catch(() => {}).finally(() => process.exit(129));
}
process.on('uncaughtException', (err) => fatal('Uncaught Exception', err));
process.on('unhandledRejection', (reason) => {
  const err = new UnhandledPromiseRejection(String(reason));
  fatal('Unhandled Promise Rejection', err);
});

async function main() {
  patchConsole();
  setNodePath();
  let handler;
  try {
    handler = await loadHandler(env._HANDLER || '');
  } catch (err) {
    initDone = true;
    logError('Uncaught Exception', errorPayload(err));
    await postError('/init/error', err).catch(() => {});
    process.exit(129);
  }
  initDone = true;
  for (;;) {
    const res = await api.request('GET', `${RUNTIME}/invocation/next`);
    if (res.status !== 200) {
      process.stderr.write(`runtime api invocation/next: ${res.status} ${res.body.toString().trim()}\n`);
      process.exit(1);
    }
    await invoke(handler, res.headers, res.body.toString('utf8'));
  }
}

main().catch((err) => {
  process.stderr.write(`runtime: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
