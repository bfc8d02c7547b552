//! Tiny hand-written components for unit tests that need no toolchain for `wasm32-wasip2`.

/// A `wasi:cli` command that imports nothing and exits with success.
pub(crate) const EXIT_ZERO: &str = r#"
(component
  (core module $m
    (func (export "run") (result i32) i32.const 0))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $run (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run)))
"#;

/// A command that loops forever without calling the host.
pub(crate) const SPIN: &str = r#"
(component
  (core module $m
    (func (export "run") (result i32)
      (loop $forever (br $forever))
      i32.const 0))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $run (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run)))
"#;

/// A command that grows its memory by 1 MiB at a time until the host refuses.
pub(crate) const GROW: &str = r#"
(component
  (core module $m
    (memory 1)
    (func (export "run") (result i32)
      (loop $more
        (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
      i32.const 1))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $run (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run)))
"#;
