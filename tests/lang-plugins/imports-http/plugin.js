// Test plugin: valid, but built with componentize-js's http and
// fetch-event features left on (the marker file .keep-wasi-http beside
// this file tells plugins/build-js.sh), so the component imports wasi:http,
// which the host does not provide: loading it must fail with a clear error.

import { definePlugin, outcome, route } from "../sdk-js/switchboard-plugin.js";

export default definePlugin({
  describe() {
    return {
      name: "imports-http",
      version: "0.1.0",
      description: "imports wasi:http (must be refused)",
      routes: [route(["post"], "/hook", "never loaded")],
      configKeys: [],
    };
  },
  handle() {
    return outcome();
  },
});
