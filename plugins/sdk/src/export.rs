//! The macro that makes a crate a paywatch plugin.

/// Exports the functions paywatch calls, built around the plugin's own.
///
/// ```text
/// export_plugin!(on_event);
/// export_plugin!(on_event, init = init);
/// ```
///
/// - `on_event: fn(&Event) -> Result<Verdict, String>` is called for each
///   event. An `Err` is logged as an error and makes the call fail: paywatch
///   puts the event on the plugin's dead-letter list.
/// - `init: fn() -> Result<(), String>`, when given, is called once per
///   instance before any event; it can read [`config`](crate::config) and
///   check it. An `Err` is logged and stops paywatch at startup, naming the
///   plugin.
///
/// On WebAssembly the macro exports `paywatch_abi_v1`, `alloc`, `init` and
/// `on_event` as `plugins/ABI.md` describes; an event that cannot be read
/// is logged and fails the call with code `-2`, an `Err` from the plugin
/// with `-1`. On other targets it only checks the functions' signatures, so
/// the crate builds and tests natively.
///
/// Use it once per crate, which must be a `cdylib` to become a `.wasm`
/// (`crate-type = ["cdylib", "rlib"]` keeps it testable).
///
/// ```
/// use paywatch_plugin::{config, export_plugin, Event, Verdict};
///
/// export_plugin!(on_event, init = init);
///
/// fn init() -> Result<(), String> {
///     config::<Vec<String>>("sinks")?;
///     Ok(())
/// }
///
/// fn on_event(_event: &Event) -> Result<Verdict, String> {
///     Ok(Verdict::forward(config("sinks")?))
/// }
/// ```
#[macro_export]
macro_rules! export_plugin {
    (@exports $on_event:path, $init:path) => {
        // Checked on every target, so a wrong signature shows in a native
        // build too.
        const _: $crate::__rt::EventHandler = $on_event;
        const _: $crate::__rt::InitHandler = $init;

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[unsafe(export_name = "paywatch_abi_v1")]
            extern "C" fn __paywatch_abi_v1() {}

            #[unsafe(export_name = "alloc")]
            extern "C" fn __paywatch_alloc(len: i32) -> i32 {
                $crate::__rt::alloc(len)
            }

            #[unsafe(export_name = "init")]
            extern "C" fn __paywatch_init(ptr: i32, len: i32) -> i32 {
                $crate::__rt::init(ptr, len, $init)
            }

            #[unsafe(export_name = "on_event")]
            extern "C" fn __paywatch_on_event(ptr: i32, len: i32) -> i64 {
                $crate::__rt::on_event(ptr, len, $on_event)
            }
        };
    };
    ($on_event:path $(,)?) => {
        $crate::export_plugin!(@exports $on_event, $crate::__rt::no_init);
    };
    ($on_event:path, init = $init:path $(,)?) => {
        $crate::export_plugin!(@exports $on_event, $init);
    };
}
