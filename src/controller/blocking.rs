//! Blocking work inside the async runtime: CPU-bound evaluations, and waiting for the engine's
//! lock while a settle holds it.

/// Runs CPU-bound work (evaluating thousands of namespaces) so that the runtime hands this
/// worker's other tasks (watches, the health server) to another thread meanwhile. Inline on a
/// single-threaded runtime, where there is no other thread to hand them to.
pub fn off_the_async_workers<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}
