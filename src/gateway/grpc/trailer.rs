//! Sends the `jobid` response metadata again as a trailer. BioID's web app reads the job id
//! from the trailers, other clients from the headers, so a BWS-compatible service sends both.
//! tonic has no API for custom trailers on a successful unary call, so this wraps the service
//! and adds the entry to the trailers frame that ends the response body. Error answers are
//! trailers-only (one header block with `grpc-status`), which already carry the metadata.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};
use http_body::Frame;
use tonic::body::Body;
use tonic::server::NamedService;
use tower::Service;

use crate::queue::broker::header::JOBID;

/// A service whose successful answers get their `jobid` header copied into the trailers.
#[derive(Clone)]
pub struct JobIdTrailer<S> {
    inner: S,
}

impl<S> JobIdTrailer<S> {
    pub fn new(inner: S) -> Self {
        JobIdTrailer { inner }
    }
}

impl<S: NamedService> NamedService for JobIdTrailer<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<Request<Body>> for JobIdTrailer<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            let trailers_only = response.headers().contains_key("grpc-status");
            let jobid = response.headers().get(JOBID).cloned();
            Ok(match jobid {
                Some(jobid) if !trailers_only => response.map(|inner| {
                    Body::new(WithJobId {
                        inner,
                        jobid: Some(jobid),
                    })
                }),
                _ => response,
            })
        })
    }
}

/// A response body whose trailers get `jobid` added.
struct WithJobId {
    inner: Body,
    /// Taken when the trailers went out.
    jobid: Option<HeaderValue>,
}

impl http_body::Body for WithJobId {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<bytes::Bytes>, tonic::Status>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => {
                let mut trailers = frame.into_trailers().unwrap_or_default();
                if let Some(jobid) = this.jobid.take() {
                    trailers.insert(JOBID, jobid);
                }
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
            Poll::Ready(None) => {
                // The body ended without trailers: send them with the job id alone.
                let jobid = this.jobid.take();
                Poll::Ready(jobid.map(|jobid| {
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert(JOBID, jobid);
                    Ok(Frame::trailers(trailers))
                }))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.jobid.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
