//! Memory: giving freed heap memory back to the system.
//!
//! glibc's malloc keeps memory the program frees in its heaps for reuse: only a
//! free stretch at the very top of a heap is returned on its own, so after a
//! burst (thousands of connections, each with buffers) the process's resident
//! size stays near the burst's peak although the memory is free. Each thread
//! that allocates may get a heap of its own (an arena), which is kept the same
//! way. The server calls [`release_free_memory`] when it goes from busy to
//! quiet.

/// Returns the allocator's free memory to the system: every whole free page of
/// every glibc arena is given back (`malloc_trim(0)`, which `madvise`s them
/// away), so the resident size falls to what is in use. Returns whether any
/// memory was released.
///
/// It walks every arena's free chunks under that arena's lock (other threads
/// allocating from it wait), and a page given back costs a page fault when it
/// is used again: call it when a burst is over, not on a hot path. Does nothing
/// where the C library is not glibc (musl returns freed memory by itself).
pub fn release_free_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim has no preconditions; it takes each arena's lock
        // itself, so other threads may allocate and free meanwhile.
        unsafe { libc::malloc_trim(0) != 0 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Makes glibc give back the free memory at the top of each heap (the main one
/// and every thread's arena) as soon as it exceeds `bytes`, for good.
///
/// glibc starts with a 128 KiB threshold but raises it, up to 64 MiB, each time
/// a large block (one it had mapped on its own, 128 KiB or more) is freed; after
/// that a thread's heap keeps its peak, and [`release_free_memory`] cannot help:
/// it gives back free pages inside the heaps and the main heap's top, not the
/// top of a thread's arena. Pinning the threshold also pins the size from which
/// blocks are mapped on their own to its value at the time (128 KiB unless it
/// was raised or set): such blocks then always cost a map and an unmap. Returns
/// whether the setting was taken; does nothing where the C library is not
/// glibc.
pub fn set_trim_threshold(bytes: usize) -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let bytes = bytes.min(libc::c_int::MAX as usize) as libc::c_int;
        // SAFETY: mallopt takes plain integers and locks the allocator itself.
        unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, bytes) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = bytes;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_memory_goes_back() {
        // 64 MiB in 16 KiB blocks (below the mmap threshold: they come from
        // the heap), every page touched, then all but the last freed: the
        // last block pins the heap's top, so only trimming gives the rest back.
        let before = crate::net::rss_bytes().unwrap();
        let mut blocks: Vec<Vec<u8>> = (0..4096).map(|_| vec![1u8; 16 * 1024]).collect();
        let last = blocks.pop();
        drop(blocks);
        let held = crate::net::rss_bytes().unwrap();
        release_free_memory();
        let after = crate::net::rss_bytes().unwrap();
        drop(last);
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(
                after + (32 << 20) < held,
                "before {before}, held {held}, after trimming {after}"
            );
        }
    }
}
