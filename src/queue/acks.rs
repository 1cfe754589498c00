//! Acknowledging answered jobs a few at a time.
//!
//! A job is acked only after its result is confirmed (see [`super::worker`]); this module only
//! decides *when* the acks of confirmed jobs go out. Each ack of a quorum queue is a command
//! the broker writes to its log, and each one also makes the broker send the next job on its
//! own. One `basic.ack` with `multiple` set settles every unacknowledged delivery up to its
//! tag in one command, and the broker then refills the prefetch window in one go. Measured
//! with one-image jobs on a quorum queue (`scripts/broker_phases.py`; docs/performance.md, "Acks
//! in batches"): the broker's CPU for delivering and settling a job fell from 0.27 to 0.36 ms to
//! 0.14 to 0.23 ms when the consumer acked four at a time instead of each one.
//!
//! The rule that keeps this safe: a `multiple` ack at tag `t` settles *every* unsettled delivery
//! of the channel up to `t`, so it is sent only when no delivery below `t` is still being
//! scored or was left unanswered. Confirmed jobs above such a delivery are acked one by one.
//! All acks and nacks of the channel go out from here, in order, while the book is locked: an
//! ack covering a tag must never reach the broker before that tag's own nack, and a tag acked
//! twice would make the broker close the channel.
//!
//! What waits: fewer than `batch` confirmed jobs, and only while other jobs of this worker are
//! still in flight; the moment none is, everything confirmed is acked. A crash in that window
//! redelivers those jobs, and they are answered again with the same `jobid`, which the
//! at-least-once contract already allows.
//!
//! Why the tags are safe to compare: delivery tags of a channel grow in delivery order, and
//! lapin hands the deliveries to the consumer in that order, so a delivery the worker has not
//! taken from its consumer yet has a higher tag than every one it has answered.

use std::collections::BTreeSet;

use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use tokio::sync::Mutex;

/// The deliveries of one consume channel that are not settled yet, by delivery tag.
#[derive(Default)]
struct Book {
    /// Received and not answered yet (being scored or waiting for a thread or a confirm).
    in_flight: BTreeSet<u64>,
    /// Answered: the result is confirmed, the ack is not sent yet.
    confirmed: BTreeSet<u64>,
    /// Left unacked on purpose (the result was not confirmed): the broker redelivers them when
    /// the channel closes. They are never acked here, and no `multiple` ack may cover them.
    left: BTreeSet<u64>,
}

/// The acks of one consume channel.
pub struct Acks {
    channel: Channel,
    batch: usize,
    book: Mutex<Book>,
}

impl Acks {
    /// Acks for `channel`, sent once `batch` confirmed jobs wait (1: each at once; the worker
    /// passes [`AmqpSettings::ack_batch`](crate::config::AmqpSettings::ack_batch)).
    pub fn new(channel: Channel, batch: usize) -> Acks {
        Acks {
            channel,
            batch,
            book: Mutex::new(Book::default()),
        }
    }

    /// Records a delivery before its job starts, so that no `multiple` ack covers it early.
    pub async fn received(&self, tag: u64) {
        self.book.lock().await.in_flight.insert(tag);
    }

    /// The job's result is confirmed: its ack is due. Sends the acks that are due now.
    pub async fn confirmed(&self, tag: u64) -> Result<(), lapin::Error> {
        let mut book = self.book.lock().await;
        book.in_flight.remove(&tag);
        book.confirmed.insert(tag);
        self.send_due(&mut book).await
    }

    /// The broker refused the job's result: the job goes back to the queue now (a retry counts
    /// against the delivery limit). Sends the acks that are due too.
    pub async fn requeue(&self, tag: u64) -> Result<(), lapin::Error> {
        let mut book = self.book.lock().await;
        book.in_flight.remove(&tag);
        let nack = self
            .channel
            .basic_nack(
                tag,
                BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                },
            )
            .await;
        if nack.is_err() {
            // Not known to be settled: no `multiple` ack may cover it.
            book.left.insert(tag);
        }
        let acks = self.send_due(&mut book).await;
        nack.and(acks)
    }

    /// The job's result was not confirmed: the job stays unacked, and the broker redelivers it
    /// once the channel closes. Sends the acks that are due.
    pub async fn leave(&self, tag: u64) -> Result<(), lapin::Error> {
        let mut book = self.book.lock().await;
        book.in_flight.remove(&tag);
        book.left.insert(tag);
        self.send_due(&mut book).await
    }

    /// Acks every answered job now, also those after a job still in flight (at the end of a
    /// drain, whose unfinished jobs are then abandoned).
    pub async fn flush(&self) -> Result<(), lapin::Error> {
        let mut book = self.book.lock().await;
        self.send(&mut book, true).await
    }

    /// Sends the acks once `batch` confirmed jobs wait or no job is in flight any more (between
    /// two calls fewer than `batch` wait, so after a requeue or a job left unacked only the
    /// second can hold).
    async fn send_due(&self, book: &mut Book) -> Result<(), lapin::Error> {
        if book.confirmed.len() >= self.batch || book.in_flight.is_empty() {
            self.send(book, false).await
        } else {
            Ok(())
        }
    }

    /// Sends the acks that are due (see [`Book::take_due`]).
    async fn send(&self, book: &mut Book, all: bool) -> Result<(), lapin::Error> {
        let (multiple, single) = book.take_due(all);
        tracing::debug!(multiple = ?multiple, single = ?single, "acking answered jobs");
        let mut result = Ok(());
        if let Some(top) = multiple {
            result = result.and(
                self.channel
                    .basic_ack(top, BasicAckOptions { multiple: true })
                    .await,
            );
        }
        for tag in single {
            result = result.and(
                self.channel
                    .basic_ack(tag, BasicAckOptions { multiple: false })
                    .await,
            );
        }
        result
    }
}

impl Book {
    /// Takes the confirmed jobs that are due out of the book, as the acks that settle them: the
    /// tag of one `multiple` ack for those below the lowest delivery still open (in flight or
    /// left unacked), and tags to ack one by one. The jobs above an open delivery wait for a
    /// later `multiple` ack, unless `all` is asked, no job is in flight any more or none is
    /// below it (a long job must not hold the answered jobs after it, and their prefetch slots,
    /// until it ends).
    fn take_due(&mut self, all: bool) -> (Option<u64>, Vec<u64>) {
        let open = [self.in_flight.first(), self.left.first()]
            .into_iter()
            .flatten()
            .min()
            .copied()
            .unwrap_or(u64::MAX);
        let above = self.confirmed.split_off(&open);
        let multiple = std::mem::take(&mut self.confirmed).last().copied();
        if multiple.is_some() && !self.in_flight.is_empty() && !all {
            self.confirmed = above;
            (multiple, Vec::new())
        } else {
            (multiple, above.into_iter().collect())
        }
    }
}

#[cfg(test)]
mod tests {
    //! Which tags a `multiple` ack may cover. The worker's tests run it against a real broker.
    use super::*;

    #[test]
    fn a_multiple_ack_never_covers_a_job_still_being_scored_or_left_unacked() {
        let book = |confirmed: &[u64], in_flight: &[u64], left: &[u64]| Book {
            confirmed: confirmed.iter().copied().collect(),
            in_flight: in_flight.iter().copied().collect(),
            left: left.iter().copied().collect(),
        };
        // Jobs 5 and 7 wait behind job 4, which is being scored.
        let mut b = book(&[1, 2, 3, 5, 7], &[4], &[6]);
        assert_eq!(b.take_due(false), (Some(3), vec![]));
        assert_eq!(b.confirmed, BTreeSet::from([5, 7]));
        // Nothing below job 4 any more: they are acked one by one rather than held.
        assert_eq!(b.take_due(false), (None, vec![5, 7]));
        assert!(b.confirmed.is_empty(), "each confirmed job is acked once");
        assert_eq!(b.take_due(false), (None, vec![]));
        // No job in flight: everything, around the one left unacked.
        assert_eq!(
            book(&[2, 5, 7], &[], &[6]).take_due(false),
            (Some(5), vec![7])
        );
        assert_eq!(
            book(&[2, 5, 7], &[], &[]).take_due(false),
            (Some(7), vec![])
        );
        assert_eq!(book(&[5, 7], &[1], &[]).take_due(false), (None, vec![5, 7]));
        // The end of a drain: everything answered, whatever is still in flight.
        assert_eq!(
            book(&[2, 5, 7], &[4], &[]).take_due(true),
            (Some(2), vec![5, 7])
        );
    }
}
