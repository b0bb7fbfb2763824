//! The one place the host generates bindings for `wit/provider.wit`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "provider",
});
