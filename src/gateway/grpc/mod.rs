//! The BWS 3 gRPC API (`bioid.services.v1.BioIDWebService`, BioID's published proto in
//! `Protos/`) on `gateway.grpc_listen`, next to REST, with the grpc.health.v1 health service
//! for container probes. BWS 3 is gRPC first; BioID's REST samples forward to it.
//!
//! - [`proto`]: the generated messages and service trait.
//! - [`service`]: the service, over [`crate::gateway::dispatch`] (the same path as REST).
//! - [`convert`]: gRPC request → job body, worker result → gRPC response or status.
//! - [`trailer`]: `jobid` also as a trailer, where BioID's web app reads it.

pub mod convert;
pub mod proto;
pub mod service;
pub mod trailer;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use super::AppState;
use proto::BioIdWebServiceServer;
use service::BwsService;

/// The full name of the service, as clients call it and as the health service knows it.
pub const SERVICE_NAME: &str = <BioIdWebServiceServer<BwsService> as NamedService>::NAME;

/// Serves gRPC on `listener` until `shutdown` turns true (or its sender is dropped); calls in
/// flight are answered first.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), tonic::transport::Error> {
    // The message limit is the REST body limit (BWS's 50 MB), both ways.
    let limit = state.gateway.max_body_bytes;
    let bws = BioIdWebServiceServer::new(BwsService::new(state.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let (reporter, health) = tonic_health::server::health_reporter();
    let health_task = tokio::spawn(report_health(reporter, state.broker.watch_connected()));
    let served = tonic::transport::Server::builder()
        .add_service(health)
        .add_service(trailer::JobIdTrailer::new(bws))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await;
    health_task.abort();
    served
}

/// Keeps the health service's answer (for the server, `""`, and for the BWS service) in step
/// with the broker connection: SERVING while connected, as `GET /healthz` answers 200.
async fn report_health(reporter: HealthReporter, mut connected: watch::Receiver<bool>) {
    loop {
        let status = if *connected.borrow_and_update() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        reporter.set_service_status("", status).await;
        reporter.set_service_status(SERVICE_NAME, status).await;
        if connected.changed().await.is_err() {
            break;
        }
    }
}
