//! End-to-end tests: the real `switchboard` binary, the real `.wasm`
//! plugins, real-format provider payloads, a local HTTP destination.
//! One test binary (ripgrep style); `./dev test` builds the plugins first.

mod support;

mod alerts;
mod cluster;
mod crash;
mod dashboard;
mod delivery;
mod faults_lang;
mod forwarding;
mod fuzz;
mod hostile;
mod https;
mod ingress;
mod isolation;
mod kit;
mod load_errors;
mod logs;
mod openapi;
mod operate;
mod package;
mod providers;
mod reliability;
mod reload;
mod replay;
mod retention;
mod startup;
mod tls;
mod webhooks;
