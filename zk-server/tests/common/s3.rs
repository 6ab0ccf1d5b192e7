//! [`S3Server`]: an S3-compatible server (s3s-fs: buckets are folders of a temporary
//! directory) on a free loopback port, on a thread of its own; stopped on drop.

use std::net::SocketAddr;

/// The access key the server accepts.
pub const ACCESS_KEY: &str = "zk-rs-test";
/// Its secret.
pub const SECRET_KEY: &str = "zk-rs-test-secret";

/// A running S3-compatible server.
pub struct S3Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    dir: tempfile::TempDir,
}

impl S3Server {
    /// Starts one holding the (empty) buckets `buckets`.
    pub fn start(buckets: &[&str]) -> S3Server {
        let dir = tempfile::tempdir().unwrap();
        for bucket in buckets {
            std::fs::create_dir_all(dir.path().join(bucket)).unwrap();
        }
        let fs = s3s_fs::FileSystem::new(dir.path()).unwrap();
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("s3-test-server".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    loop {
                        let socket = tokio::select! {
                            _ = &mut stop_rx => break,
                            accepted = listener.accept() => match accepted {
                                Ok((socket, _)) => socket,
                                Err(_) => continue,
                            },
                        };
                        let service = service.clone();
                        tokio::spawn(async move {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(socket), service)
                                .await;
                        });
                    }
                });
            })
            .unwrap();
        S3Server {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
            dir,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where a bucket's objects are, as files.
    pub fn bucket_dir(&self, bucket: &str) -> std::path::PathBuf {
        self.dir.path().join(bucket)
    }

    /// The environment a client needs (credentials and region).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
