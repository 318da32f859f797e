// The part of undici the agent uses (src/net/http.ts), for the bundle (scripts/bundle.ts).
// undici's index.js loads all of undici when it starts: fetch, WebSocket, EventSource, the
// cache stores (node:sqlite), the mocks, every interceptor (node:zlib). A poll took about 25 ms
// for that alone. This entry loads the dispatchers and the request API, as index.js wires them.
// An ES module, so that a name src/ imports from 'undici' and this file lacks fails the build
// ("No matching export") instead of reading as undefined.
import Agent from 'undici/lib/dispatcher/agent.js';
import Dispatcher from 'undici/lib/dispatcher/dispatcher.js';
import Pool from 'undici/lib/dispatcher/pool.js';
import ProxyAgent from 'undici/lib/dispatcher/proxy-agent.js';
import api from 'undici/lib/api/index.js';
import errors from 'undici/lib/core/errors.js';
import util from 'undici/lib/core/util.js';
import { getGlobalDispatcher, setGlobalDispatcher } from 'undici/lib/global.js';

// As index.js: the request API on every dispatcher.
Object.assign(Dispatcher.prototype, api);

// index.js's makeDispatcher (undici 8, MIT licence), for `request(url, opts)`.
function makeDispatcher(fn) {
  return (url, opts, handler) => {
    if (typeof opts === 'function') {
      handler = opts;
      opts = null;
    }
    if (!url || (typeof url !== 'string' && typeof url !== 'object' && !(url instanceof URL))) {
      throw new errors.InvalidArgumentError('invalid url');
    }
    if (opts != null && typeof opts !== 'object') {
      throw new errors.InvalidArgumentError('invalid opts');
    }
    if (opts && opts.path != null) {
      if (typeof opts.path !== 'string') {
        throw new errors.InvalidArgumentError('invalid opts.path');
      }
      let path = opts.path;
      if (!opts.path.startsWith('/')) {
        path = `/${path}`;
      }
      url = new URL(util.parseOrigin(url).origin + path);
    } else {
      if (!opts) {
        opts = typeof url === 'object' ? url : {};
      }
      url = util.parseURL(url);
    }
    const { agent, dispatcher = getGlobalDispatcher(), ...restOpts } = opts;
    if (agent) {
      throw new errors.InvalidArgumentError('unsupported opts.agent. Did you mean opts.client?');
    }
    return fn.call(
      dispatcher,
      {
        ...restOpts,
        origin: url.origin,
        path: url.search ? `${url.pathname}${url.search}` : url.pathname,
        method: opts.method || (opts.body ? 'PUT' : 'GET'),
      },
      handler,
    );
  };
}

export const request = makeDispatcher(api.request);
export { Agent, Dispatcher, Pool, ProxyAgent, errors, getGlobalDispatcher, setGlobalDispatcher };
