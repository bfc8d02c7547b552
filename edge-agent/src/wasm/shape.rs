//! Which of the two workload shapes a component has, read from its exports.

use wasmtime::Engine;
use wasmtime::component::Component;

use super::WasmError;

/// How the runtime runs a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentShape {
    /// Exports `wasi:cli/run`: runs to completion, and its exit code is the container's.
    Command,
    /// Exports `wasi:http/incoming-handler`: serves HTTP on the container's port, one fresh
    /// instance per request.
    HttpProxy,
}

const RUN: &str = "wasi:cli/run";
const INCOMING_HANDLER: &str = "wasi:http/incoming-handler";

impl ComponentShape {
    /// Reads the shape of a compiled component from the names of its exports.
    pub fn detect(engine: &Engine, component: &Component) -> Result<Self, WasmError> {
        let ty = component.component_type();
        Self::from_exports(ty.exports(engine).map(|(name, _)| name))
    }

    /// A proxy wins when a component exports both: it was built to serve, and `run` is then
    /// usually a test entry point. Only WASI 0.2 interfaces count (0.3 is not supported yet).
    fn from_exports<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, WasmError> {
        let mut shape = None;
        for name in names {
            let Some((interface, version)) = name.split_once('@') else {
                continue;
            };
            if !version.starts_with("0.2.") {
                continue;
            }
            match interface {
                INCOMING_HANDLER => return Ok(ComponentShape::HttpProxy),
                RUN => shape = Some(ComponentShape::Command),
                _ => {}
            }
        }
        shape.ok_or(WasmError::UnknownShape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_follows_the_exported_interfaces() {
        let cases: &[(&[&str], Option<ComponentShape>)] = &[
            (&["wasi:cli/run@0.2.0"], Some(ComponentShape::Command)),
            (&["wasi:cli/run@0.2.12"], Some(ComponentShape::Command)),
            (
                &["wasi:http/incoming-handler@0.2.4"],
                Some(ComponentShape::HttpProxy),
            ),
            (
                &["wasi:cli/run@0.2.0", "wasi:http/incoming-handler@0.2.0"],
                Some(ComponentShape::HttpProxy),
            ),
            (&["wasi:http/handler@0.3.0-rc-2025-09-16"], None),
            (&["wasi:cli/run@0.3.0"], None),
            (&["my:app/run@0.2.0", "run"], None),
            (&[], None),
        ];
        for (exports, expected) in cases {
            let shape = ComponentShape::from_exports(exports.iter().copied()).ok();
            assert_eq!(shape, *expected, "{exports:?}");
        }
    }

    #[test]
    fn detects_the_shape_of_compiled_components() -> wasmtime::Result<()> {
        let engine = Engine::default();
        let command = Component::new(&engine, wat::parse_str(crate::wasm::testdata::EXIT_ZERO)?)?;
        assert_eq!(
            ComponentShape::detect(&engine, &command)?,
            ComponentShape::Command
        );
        let empty = Component::new(&engine, wat::parse_str("(component)")?)?;
        let err = ComponentShape::detect(&engine, &empty);
        assert!(matches!(err, Err(WasmError::UnknownShape)));
        assert_eq!(
            err.err().map(|e| e.to_string()).unwrap_or_default(),
            "component is neither a wasi:cli command nor a wasi:http proxy"
        );
        Ok(())
    }
}
