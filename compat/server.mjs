// Fragment servers on the real framework packages, as teams write them,
// for the compatibility suite (composer/compat_browser_test.go): one Node
// process serves them all under /compat/ on a loopback port (PORT, or one
// the system picks), and prints {"port": N} once it listens.
//
//   /compat/react       React 19 renderToPipeableStream with a Suspense
//                       boundary, a nonce per answer in its own CSP header,
//                       identifierPrefix from Mfe-Slot; ?delay=ms
//   /compat/vue         Vue 3 pipeToNodeWritable, idPrefix from Mfe-Slot
//   /compat/podium/     a @podium/podlet 5 podlet on express: a module
//                       script and a stylesheet in its Link header
//   /compat/tailor      a fragment with Tailor's Link header convention
//   /compat/inject      a careless fragment: echoes ?x= into its markup
//                       (with a nonce-vouched script of its own)
//
// The browsers hydrate from client modules served here too; React's
// CommonJS builds are wrapped as ES modules on the fly (no bundler).

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import express from "express";
import Podlet from "@podium/podlet";
import React from "react";
import { renderToPipeableStream } from "react-dom/server";
import * as Vue from "vue";
import { pipeToNodeWritable } from "@vue/server-renderer";
import { reactApp, revealed, vueApp } from "./apps.mjs";

const require = createRequire(import.meta.url);
const app = express();
app.disable("x-powered-by");

// nonce draws a fresh nonce for one answer, and sets the answer's own
// policy naming it: what vouches for the answer's scripts.
function nonce(res) {
  const n = randomBytes(16).toString("base64");
  res.set("Content-Security-Policy", `script-src 'nonce-${n}' 'strict-dynamic'; object-src 'none'; base-uri 'none'`);
  return n;
}

// slotOf is the slot the composer names (Mfe-Slot), kept to safe
// characters: it becomes part of ids and URLs.
const slotOf = (req) => (req.get("mfe-slot") || "s").replace(/[^A-Za-z0-9_-]/g, "");

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// React's CommonJS production builds, wrapped as ES modules.
const vendor = {
  "react.mjs": { file: "react/cjs/react.production.js", deps: {} },
  "scheduler.mjs": { file: "scheduler/cjs/scheduler.production.js", deps: {} },
  "react-dom.mjs": { file: "react-dom/cjs/react-dom.production.js", deps: { react: "react.mjs" } },
  "react-dom-client.mjs": {
    file: "react-dom/cjs/react-dom-client.production.js",
    deps: { react: "react.mjs", "react-dom": "react-dom.mjs", scheduler: "scheduler.mjs" },
  },
};
const wrapped = {};
for (const [name, { file, deps }] of Object.entries(vendor)) {
  // Read from the installed package, past its "exports" (which name
  // only the Node entries).
  const src = readFileSync(new URL("./node_modules/" + file, import.meta.url), "utf8");
  const imports = Object.values(deps).map((m, i) => `import d${i} from "./${m}";`).join("\n");
  const table = Object.keys(deps).map((k, i) => `${JSON.stringify(k)}: d${i}`).join(", ");
  wrapped[name] = `${imports}
const module = { exports: {} }, exports = module.exports;
const process = { env: { NODE_ENV: "production" } };
const require = (n) => ({ ${table} })[n];
${src}
export default module.exports;
`;
}
app.get("/compat/vendor/:name", (req, res) => {
  const body = wrapped[req.params.name];
  if (!body) return res.sendStatus(404);
  res.type("text/javascript").set("Cache-Control", "public, max-age=3600").send(body);
});
app.get("/compat/vendor-vue.mjs", (req, res) => {
  res.type("text/javascript").set("Cache-Control", "public, max-age=3600")
    .sendFile(new URL("./node_modules/vue/dist/vue.runtime.esm-browser.prod.js", import.meta.url).pathname);
});
app.get("/compat/apps.mjs", (req, res) => {
  res.type("text/javascript").sendFile(new URL("./apps.mjs", import.meta.url).pathname);
});
app.get("/compat/shared.css", (req, res) => {
  res.type("text/css").send(".react-fragment, .vue-fragment { border-top: 3px solid rgb(0, 0, 255); }\n");
});

// React: the shell, then the boundary completed by React's inline
// scripts, each carrying this answer's nonce.
app.get("/compat/react", (req, res) => {
  const slot = slotOf(req);
  const n = nonce(res);
  const delay = Math.min(Number(req.query.delay) || 150, 5000);
  const data = new Promise((resolve) => setTimeout(() => resolve(revealed(slot)), delay));
  const load = () => data;
  const App = reactApp(React, load);
  res.set("Link", "</compat/shared.css>; rel=stylesheet");
  res.set("Cache-Control", "no-store");
  res.type("text/html");
  const { pipe } = renderToPipeableStream(React.createElement(App, { slot }), {
    identifierPrefix: slot + "-",
    nonce: n,
    onShellReady() {
      // The shell goes out inside the root at once (pipe flushes it
      // synchronously); what completes later follows the root, where
      // React's scripts find it by id.
      res.write(`<div id="react-${esc(slot)}">`);
      pipe(res);
      res.write(`</div><script type="module" nonce="${n}" src="/compat/react-client.mjs?slot=${encodeURIComponent(slot)}"></script>`);
    },
    onShellError(err) {
      res.status(500).send("shell failed");
    },
    onError(err) {
      console.error(err);
    },
  });
});
app.get("/compat/react-client.mjs", (req, res) => {
  res.type("text/javascript").send(`import React from "./vendor/react.mjs";
import ReactDOM from "./vendor/react-dom-client.mjs";
import { reactApp, revealed } from "./apps.mjs";
const slot = new URL(import.meta.url).searchParams.get("slot");
const done = Promise.resolve(revealed(slot));
const App = reactApp(React, () => done);
ReactDOM.hydrateRoot(document.getElementById("react-" + slot), React.createElement(App, { slot }), {
  identifierPrefix: slot + "-",
  onRecoverableError(err) { (globalThis.compatErrors ||= []).push("react " + slot + ": " + err.message); console.error(err); },
});
`);
});

// Vue: streamed by pipeToNodeWritable, hydrated by createSSRApp.
app.get("/compat/vue", (req, res) => {
  const slot = slotOf(req);
  const n = nonce(res);
  res.set("Link", "</compat/shared.css>; rel=stylesheet");
  res.set("Cache-Control", "no-store");
  res.type("text/html");
  res.write(`<div id="vue-${esc(slot)}">`);
  pipeToNodeWritable(vueApp(Vue, slot), {}, {
    write: (chunk) => res.write(chunk),
    end: () => res.end(`</div><script type="module" nonce="${n}" src="/compat/vue-client.mjs?slot=${encodeURIComponent(slot)}"></script>`),
    destroy: (err) => res.destroy(err),
  });
});
app.get("/compat/vue-client.mjs", (req, res) => {
  res.type("text/javascript").send(`import * as Vue from "./vendor-vue.mjs";
import { vueApp } from "./apps.mjs";
const slot = new URL(import.meta.url).searchParams.get("slot");
const app = vueApp(Vue, slot);
app.config.errorHandler = (err) => { (globalThis.compatErrors ||= []).push("vue " + slot + ": " + err.message); };
app.config.warnHandler = (msg) => { (globalThis.compatErrors ||= []).push("vue warn " + slot + ": " + msg); };
app.mount("#vue-" + slot);
`);
});

// Podium: a podlet as its documentation writes it, under /compat/podium.
const podlet = new Podlet({ name: "compat-podlet", version: "1.0.0", pathname: "/compat/podium", development: false });
podlet.js({ value: "/compat/podium/js/app.js", type: "module" });
podlet.css({ value: "/compat/podium/css/app.css" });
app.use("/compat/podium", podlet.middleware());
app.get("/compat/podium/js/app.js", (req, res) => {
  res.type("text/javascript").send(`globalThis.compatPodletRuns = (globalThis.compatPodletRuns || 0) + 1;
for (const el of document.querySelectorAll(".podlet")) el.dataset.ran = String(globalThis.compatPodletRuns);
`);
});
app.get("/compat/podium/css/app.css", (req, res) => {
  res.type("text/css").send(".podlet { color: rgb(0, 128, 0); }\n");
});
app.get("/compat/podium/", (req, res) => {
  const ctx = res.locals.podium.context;
  res.set("Cache-Control", "no-store");
  res.podiumSend(`<div class="podlet" data-locale="${esc(ctx.locale)}" data-device="${esc(ctx.deviceType)}" data-origin="${esc(ctx.mountOrigin)}" data-requested-by="${esc(ctx.requestedBy)}">Podlet</div>`);
});

// Tailor's convention: stylesheets in the Link header.
app.get("/compat/tailor", (req, res) => {
  res.set("Link", `</compat/tailor/t.css>; rel="stylesheet", </compat/tailor/t.js>; rel="fragment-script"`);
  res.set("Cache-Control", "no-store");
  res.type("text/html").send(`<div class="tailor-fragment">Tailor</div>`);
});
app.get("/compat/tailor/t.css", (req, res) => {
  res.type("text/css").send(".tailor-fragment { color: rgb(128, 0, 0); }\n");
});

// A careless fragment: it writes ?x= into its markup unescaped, next to
// a script of its own that its nonce vouches for.
app.get("/compat/inject", (req, res) => {
  const n = nonce(res);
  res.set("Cache-Control", "no-store");
  // Its own scripts, of every kind, record the order they run in: as
  // inline, a and d at once (a sees document.currentScript), then, once
  // the document is parsed, the deferred b and the module c.
  res.type("text/html").send(`<div class="inject">${req.query.x || ""}</div>` +
    `<script nonce="${n}">globalThis.compatInjectOwn = (globalThis.compatInjectOwn || 0) + 1; (globalThis.compatOrder ||= []).push("a:" + (document.currentScript && document.currentScript.tagName));</script>` +
    `<script nonce="${n}" src="/compat/order.js?b" defer></script>` +
    `<script nonce="${n}" type="module">(globalThis.compatOrder ||= []).push("c-module");</script>` +
    `<script nonce="${n}">(globalThis.compatOrder ||= []).push("d");</script>` +
    `<script type="application/json" id="inject-data">{"kept": true}</script>`);
});
app.get("/compat/order.js", (req, res) => {
  res.type("text/javascript").send(`(globalThis.compatOrder ||= []).push("b-defer");\n`);
});
// What an injected <script src> would load.
app.get("/compat/evil.js", (req, res) => {
  res.type("text/javascript").send(`(globalThis.compatPwned ||= []).push("src");\n`);
});

const server = app.listen(Number(process.env.PORT) || 0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
