//! Runs the model's threads at a lower scheduling priority than the protocol's, so that when the
//! model keeps every core busy the server still reads, routes and answers cheap requests at once.

/// How much the calling thread's nice value goes up (0 is the default priority, 19 the least).
const MODEL_NICENESS: i32 = 10;

/// Lowers the priority of the calling thread. Threads it starts later inherit it (on Linux the
/// nice value is per thread), so calling this first on the thread that loads the model covers the
/// engine thread and the compute pools the model starts. Best effort: a failure is only logged,
/// and other systems are left as they are.
pub fn lower_current_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority take and return plain integers and touch no memory.
        let result = unsafe {
            let thread_id = libc::syscall(libc::SYS_gettid) as libc::id_t;
            let current = libc::getpriority(libc::PRIO_PROCESS, thread_id);
            libc::setpriority(
                libc::PRIO_PROCESS,
                thread_id,
                (current + MODEL_NICENESS).min(19),
            )
        };
        if result != 0 {
            tracing::debug!(
                "cannot lower the model thread's priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn niceness_of_this_thread() -> i32 {
        // SAFETY: as above.
        unsafe {
            let thread_id = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::getpriority(libc::PRIO_PROCESS, thread_id)
        }
    }

    #[test]
    fn the_thread_and_the_threads_it_starts_get_the_lower_priority() {
        let (own, inherited) = std::thread::spawn(|| {
            let before = niceness_of_this_thread();
            lower_current_thread_priority();
            let own = niceness_of_this_thread();
            let inherited = std::thread::spawn(niceness_of_this_thread)
                .join()
                .expect("a thread");
            assert_eq!(own, (before + MODEL_NICENESS).min(19));
            (own, inherited)
        })
        .join()
        .expect("a thread");
        assert_eq!(inherited, own);
        // Only that thread: this one keeps its priority.
        assert!(niceness_of_this_thread() < own || own == 19);
    }
}
