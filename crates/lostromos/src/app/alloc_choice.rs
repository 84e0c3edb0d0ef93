//! The benches' allocator comparison (feature `alloc-choice`, never in the
//! product build): one binary whose global allocator is picked at start by
//! `LOSTROMOS_ALLOCATOR` (`system`, the default, `jemalloc` or `mimalloc`), so
//! the three are measured on the same code, CRs and releases.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::CStr;
use std::sync::atomic::{AtomicU8, Ordering};

use nix::libc;

struct Choice;

#[global_allocator]
static ALLOC: Choice = Choice;

static JEMALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
static MIMALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const UNSET: u8 = 0;
const SYSTEM: u8 = 1;
const JE: u8 = 2;
const MI: u8 = 3;
static CHOSEN: AtomicU8 = AtomicU8::new(UNSET);

/// Read at the first allocation (before `main`, on one thread); `getenv`
/// allocates nothing.
fn chosen() -> u8 {
    let c = CHOSEN.load(Ordering::Relaxed);
    if c != UNSET {
        return c;
    }
    // SAFETY: a NUL-terminated name; the result is read before any thread
    // can change the environment.
    let v = unsafe { libc::getenv(c"LOSTROMOS_ALLOCATOR".as_ptr()) };
    let c = if v.is_null() {
        SYSTEM
    } else {
        // SAFETY: getenv returns a NUL-terminated string
        match unsafe { CStr::from_ptr(v) }.to_bytes() {
            b"jemalloc" => JE,
            b"mimalloc" => MI,
            _ => SYSTEM,
        }
    };
    CHOSEN.store(c, Ordering::Relaxed);
    c
}

// SAFETY: every call goes to the one allocator chosen for the whole process.
unsafe impl GlobalAlloc for Choice {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match chosen() {
            JE => unsafe { JEMALLOC.alloc(layout) },
            MI => unsafe { MIMALLOC.alloc(layout) },
            _ => unsafe { System.alloc(layout) },
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match chosen() {
            JE => unsafe { JEMALLOC.dealloc(ptr, layout) },
            MI => unsafe { MIMALLOC.dealloc(ptr, layout) },
            _ => unsafe { System.dealloc(ptr, layout) },
        }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match chosen() {
            JE => unsafe { JEMALLOC.alloc_zeroed(layout) },
            MI => unsafe { MIMALLOC.alloc_zeroed(layout) },
            _ => unsafe { System.alloc_zeroed(layout) },
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match chosen() {
            JE => unsafe { JEMALLOC.realloc(ptr, layout, new_size) },
            MI => unsafe { MIMALLOC.realloc(ptr, layout, new_size) },
            _ => unsafe { System.realloc(ptr, layout, new_size) },
        }
    }
}
