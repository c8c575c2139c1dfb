// Tailor for the benchmark: one worker per core (cluster), templates from
// the folder the harness writes.
'use strict';
const cluster = require('cluster');
const http = require('http');
const os = require('os');
const path = require('path');

const port = Number(process.env.PORT || 8082);
const templates = process.env.TEMPLATES || path.join(__dirname, 'templates');

if (cluster.isPrimary) {
  const n = Number(process.env.WORKERS || os.cpus().length);
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('exit', (w, code) => { if (code !== 0) process.exit(code); });
} else {
  const Tailor = require('node-tailor');
  const tailor = new Tailor({ templatesPath: templates });
  // "/s1" is served from s1.html, as Tailor does by default.
  http.createServer(tailor.requestHandler).listen(port, '127.0.0.1');
}
