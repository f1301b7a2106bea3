// Preloaded into the Portkey gateway (node --require) by bench/run.sh: it listens on every
// interface by default; this makes a listen() without a host bind 127.0.0.1 only.
'use strict';
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const a = args[0];
  if (typeof a === 'number' || (typeof a === 'string' && /^\d+$/.test(a))) {
    if (args.length === 1 || typeof args[1] === 'function') args.splice(1, 0, '127.0.0.1');
    else if (args[1] === undefined || args[1] === null || args[1] === '0.0.0.0' || args[1] === '::')
      args[1] = '127.0.0.1';
  } else if (a && typeof a === 'object' && a.port !== undefined && !a.host) {
    args[0] = Object.assign({}, a, { host: '127.0.0.1' });
  }
  return listen.apply(this, args);
};
