//! Summarises a dhat heap profile of the operator (`cargo build --features dhat-heap`, run by
//! the scale bench with `--operator`) by owner: the bytes live at the heap's peak (dhat's
//! `t-gmax`), grouped by the first frame of this crate on each allocation's stack (who asked
//! for the memory and keeps it), and, within that, by the allocating library frame.
//!
//!     cargo build --bench heap_owners
//!     target/debug/deps/heap_owners-<hash> dhat-heap.json [--top 25]
//!
//! Not part of `cargo test` (`harness = false`).

use serde_json::Value;
use std::collections::BTreeMap;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let path = args.next().expect("usage: heap_owners DHAT_JSON [--top N]");
    let mut top = 25usize;
    while let Some(arg) = args.next() {
        if arg == "--top" {
            top = args.next().and_then(|n| n.parse().ok()).expect("--top N");
        }
    }
    let profile: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read the profile"))
            .expect("dhat JSON");
    let frames: Vec<&str> = profile["ftbl"]
        .as_array()
        .expect("ftbl")
        .iter()
        .map(|f| f.as_str().unwrap_or_default())
        .collect();
    let mut owners: BTreeMap<String, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
    let mut total = 0u64;
    for point in profile["pps"].as_array().expect("pps") {
        // Bytes this allocation site held at the global peak.
        let bytes = point["gb"].as_u64().unwrap_or(0);
        if bytes == 0 {
            continue;
        }
        total += bytes;
        let stack: Vec<&str> = point["fs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| frames.get(i.as_u64()? as usize).copied())
            .collect();
        let owner = stack
            .iter()
            .find(|f| is_ours(f))
            .map(|f| owner_of(f))
            .or_else(|| {
                // No frame of this crate within the recorded depth: the first library frame
                // that says whose work it is (a watch decoding objects, the HTTP client).
                stack
                    .iter()
                    .find(|f| !is_plumbing(f))
                    .map(|f| format!("(library) {}", short(&function_of(f))))
            })
            .unwrap_or_else(|| "(allocator frames only)".into());
        let allocator = stack
            .iter()
            .find(|f| !is_plumbing(f))
            .map(|f| function_of(f))
            .unwrap_or_default();
        let entry = owners.entry(owner).or_default();
        entry.0 += bytes;
        *entry.1.entry(allocator).or_default() += bytes;
    }
    let mut sorted: Vec<_> = owners.into_iter().collect();
    sorted.sort_by_key(|(_, (bytes, _))| std::cmp::Reverse(*bytes));
    println!(
        "heap at its peak: {:.1} MiB in {} owners\n",
        mib(total),
        sorted.len()
    );
    println!("| MiB | % | owner (first frame of this crate) | largest allocating frame |");
    println!("|---|---|---|---|");
    for (owner, (bytes, by_allocator)) in sorted.iter().take(top) {
        let (allocator, _) = by_allocator
            .iter()
            .max_by_key(|(_, b)| **b)
            .map(|(a, b)| (a.as_str(), *b))
            .unwrap_or_default();
        println!(
            "| {:.1} | {:.1} | `{}` | `{}` |",
            mib(*bytes),
            100.0 * *bytes as f64 / total.max(1) as f64,
            owner,
            short(allocator)
        );
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0 / 1024.0
}

/// The function of a dhat frame (`0x1234: path::to::function (file.rs:1:2)`), without its
/// address, location and closure suffixes.
fn function_of(frame: &str) -> String {
    let text = frame.split_once(": ").map_or(frame, |(_, rest)| rest);
    let text = text.split(" (").next().unwrap_or(text);
    text.trim_end_matches("::{{closure}}")
        .replace("::{{closure}}", "")
        .to_string()
}

/// A frame as an owner: a store's reflector names the kind it holds (`store of Pod`); any
/// other function loses its generic arguments.
fn owner_of(frame: &str) -> String {
    let function = function_of(frame);
    if !short(&function).starts_with("baseline_operator::")
        && !function.contains("FullObject<")
        && let Some(location) = our_location(frame)
    {
        return location;
    }
    if function.contains("controller::stores::reflect")
        && let Some(at) = function.find("FullObject<")
    {
        let rest = &function[at + "FullObject<".len()..];
        let kind = rest.split(['>', ',']).next().unwrap_or(rest);
        return format!("store of {}", kind.rsplit("::").next().unwrap_or(kind));
    }
    short(&function)
}

/// Whether a frame is this crate's code: a function of it, or a watch stream running one of
/// its reflector closures (the frame that names the kind stored).
fn is_ours(frame: &str) -> bool {
    let function = function_of(frame);
    short(&function).starts_with("baseline_operator::")
        || (function.contains("controller::stores::reflect") && function.contains("FullObject<"))
        || our_location(frame).is_some()
}

/// The frame's `module/file.rs:line` when it is in this crate's source (an async block's
/// frame names no path, only its location).
fn our_location(frame: &str) -> Option<String> {
    let location = frame.rsplit_once(" (")?.1.trim_end_matches(')');
    let path = location.strip_prefix("src/")?;
    let top = path.split(['/', '.', ':']).next()?;
    let ours = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
        .ok()?
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().trim_end_matches(".rs") == top);
    ours.then(|| {
        path.rsplit_once(':')
            .map_or(path, |(file, _)| file)
            .to_string()
    })
}

/// `function` without generic arguments (`f<A, B>` -> `f`).
fn short(function: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in function.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Frames of the allocator and of generic containers, which say nothing about who holds
/// the memory.
fn is_plumbing(frame: &str) -> bool {
    [
        "dhat::",
        "alloc::",
        "core::",
        "std::",
        "hashbrown::",
        "<alloc::",
        "<core::",
        "<std::",
        "[root]",
        "__rust",
        "<dhat::",
        "<hashbrown::",
        "backtrace::",
        "<backtrace::",
    ]
    .iter()
    .any(|p| function_of(frame).starts_with(p))
        // dhat's own stack walk, and allocator shims named without a path.
        || ["trace", "alloc", "realloc", "alloc_zeroed"].contains(&short(&function_of(frame)).as_str())
}
