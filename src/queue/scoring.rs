//! The scoring threads: a fixed set of OS threads that take the jobs to score from one queue,
//! in the order they were handed over, and hand each answer back to the job's task.
//!
//! Why not tokio's blocking pool behind a semaphore, as before: there, a job could start only
//! once the reactor had run the waiting job's task (to take the freed permit and spawn it), so
//! each job's start waited for the one reactor thread to be scheduled on cores the scoring
//! threads kept busy. A worker needed a thread more than it had cores to keep them busy, and
//! the three threads on two cores then took turns on them, each turn finding the caches full
//! of another job's images and weights: the scoring alone took 8.5 to 8.9 ms per job on 3
//! threads against 7.9 to 8.2 ms on 2 (`liveness-loadtest --scoring-only`,
//! docs/performance.md). Here a thread that finishes a job takes the next one from the queue
//! itself, so as many threads as cores keep the cores busy.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use tokio::sync::oneshot;

type Task = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queue {
    tasks: VecDeque<Task>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

/// A fixed set of scoring threads fed by one FIFO queue. Dropping it lets the threads finish
/// what is queued and stop.
pub struct ScoringThreads {
    shared: Arc<Shared>,
}

impl ScoringThreads {
    /// Starts `threads` threads (at least one), named `scoring-0`, `scoring-1`, ...
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let shared = Arc::new(Shared::default());
        for i in 0..threads {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("scoring-{i}"))
                .spawn(move || work(&shared))?;
        }
        Ok(ScoringThreads { shared })
    }

    /// Queues `f` for the next free thread; its value comes back through the receiver. A
    /// panic in `f` drops the sender, so the receiver then reports an error. If the receiver
    /// is dropped before a thread takes `f` (the job's task was stopped because its connection
    /// was lost, so the broker will deliver the job again), `f` is not run.
    pub fn run<T, F>(&self, f: F) -> oneshot::Receiver<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let task: Task = Box::new(move || {
            if tx.is_closed() {
                return;
            }
            // The job's task may have gone meanwhile: nobody to answer.
            let _ = tx.send(f());
        });
        let mut queue = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        queue.tasks.push_back(task);
        drop(queue);
        self.shared.ready.notify_one();
        rx
    }
}

impl Drop for ScoringThreads {
    fn drop(&mut self) {
        let mut queue = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        queue.closed = true;
        drop(queue);
        self.shared.ready.notify_all();
    }
}

/// One thread's loop: the oldest queued task, until the queue is closed and empty.
fn work(shared: &Shared) {
    loop {
        let task = {
            let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(task) = queue.tasks.pop_front() {
                    break task;
                }
                if queue.closed {
                    return;
                }
                queue = shared
                    .ready
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        // A panicking task must not take the thread with it: its sender is dropped, which its
        // job's task sees as an error and answers.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(task));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_task_is_answered_and_a_panic_leaves_the_threads_working() {
        let threads = ScoringThreads::start(2).unwrap();
        let receivers: Vec<_> = (0..50u32).map(|i| threads.run(move || i * 2)).collect();
        let failing = threads.run(|| -> u32 { panic!("a fault in scoring") });
        assert!(failing.await.is_err());
        for (i, rx) in (0..50u32).zip(receivers) {
            assert_eq!(rx.await.unwrap(), i * 2);
        }
        // Both threads survived the panic: two tasks that wait for each other both finish.
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let (a, b) = (barrier.clone(), barrier);
        let (ra, rb) = (threads.run(move || a.wait()), threads.run(move || b.wait()));
        ra.await.unwrap();
        rb.await.unwrap();
    }

    #[test]
    fn a_task_nobody_waits_for_any_more_is_not_run() {
        let threads = ScoringThreads::start(1).unwrap();
        // The one thread is held until the next two tasks are queued.
        let (hold, release) = std::sync::mpsc::channel::<()>();
        let held = threads.run(move || release.recv().unwrap());
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        drop(threads.run(move || flag.store(true, std::sync::atomic::Ordering::SeqCst)));
        let after = threads.run(|| 7);
        hold.send(()).unwrap();
        held.blocking_recv().unwrap();
        assert_eq!(after.blocking_recv().unwrap(), 7);
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn tasks_start_in_the_order_they_were_queued() {
        let threads = ScoringThreads::start(1).unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let receivers: Vec<_> = (0..20)
            .map(|i| {
                let order = order.clone();
                threads.run(move || order.lock().unwrap().push(i))
            })
            .collect();
        for rx in receivers {
            rx.blocking_recv().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
    }
}
