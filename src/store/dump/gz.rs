//! The dump's gzip stream: 1 MiB of tar per gzip member, compressed on every
//! core (as `bgzip` writes them), written in order.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::sync::{mpsc, Arc, Mutex};

/// Tar bytes per gzip member (and per compression job).
const GZ_CHUNK: usize = 1 << 20;

/// A gzip writer that compresses [`GZ_CHUNK`]-byte chunks on worker threads,
/// each as a complete gzip member, and writes them in order: a multi-member
/// gzip stream, as `pigz -i` and `bgzip` write, which every gzip reader
/// (`gzip -d`, `tar -z`, flate2's `MultiGzDecoder`) reads as one.
pub(super) struct ParallelGz {
    out: File,
    buf: Vec<u8>,
    /// Compressed members in the order their chunks were written.
    queue: VecDeque<mpsc::Receiver<io::Result<Vec<u8>>>>,
    jobs: Option<mpsc::Sender<GzJob>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    /// Chunks in flight before the writer waits for the oldest.
    depth: usize,
}

type GzJob = (Vec<u8>, mpsc::SyncSender<io::Result<Vec<u8>>>);

impl ParallelGz {
    pub(super) fn new(out: File) -> ParallelGz {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let (jobs, receiver) = mpsc::channel::<GzJob>();
        let receiver = Arc::new(Mutex::new(receiver));
        let workers = (0..threads)
            .map(|_| {
                let receiver = Arc::clone(&receiver);
                std::thread::spawn(move || loop {
                    let job = receiver.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok((chunk, reply)) = job else { return };
                    let _ = reply.send(gzip_member(&chunk));
                })
            })
            .collect();
        ParallelGz {
            out,
            buf: Vec::with_capacity(GZ_CHUNK),
            queue: VecDeque::new(),
            jobs: Some(jobs),
            workers,
            depth: threads * 2,
        }
    }

    fn submit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(GZ_CHUNK));
        let (reply, member) = mpsc::sync_channel(1);
        self.jobs
            .as_ref()
            .expect("jobs are open until finish")
            .send((chunk, reply))
            .map_err(|_| io::Error::other("a compression thread stopped"))?;
        self.queue.push_back(member);
        while self.queue.len() > self.depth {
            self.write_oldest()?;
        }
        Ok(())
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        if let Some(member) = self.queue.pop_front() {
            let bytes = member
                .recv()
                .map_err(|_| io::Error::other("a compression thread stopped"))??;
            self.out.write_all(&bytes)?;
        }
        Ok(())
    }

    /// Writes what is buffered and every member still in flight.
    pub(super) fn finish(mut self) -> io::Result<File> {
        self.submit()?;
        while !self.queue.is_empty() {
            self.write_oldest()?;
        }
        self.stop();
        self.out.try_clone()
    }

    fn stop(&mut self) {
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn gzip_member(chunk: &[u8]) -> io::Result<Vec<u8>> {
    let mut gz = flate2::GzBuilder::new().mtime(0).write(
        Vec::with_capacity(chunk.len() / 2 + 64),
        flate2::Compression::fast(),
    );
    gz.write_all(chunk)?;
    gz.finish()
}

impl Write for ParallelGz {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(GZ_CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == GZ_CHUNK {
            self.submit()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for ParallelGz {
    fn drop(&mut self) {
        self.queue.clear();
        self.stop();
    }
}
