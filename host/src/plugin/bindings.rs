//! The one place the host generates bindings for `wit/provider.wit`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "provider",
});

use self::switchboard::provider::types::Method;

/// A contract method as HTTP spells it.
pub fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}
