//! What a HIS reaches on the gateway's port: the national interface ([`NationalService`]),
//! the legacy dialects under `/legacy/` (`crate::legacy`), and — for an institution under
//! certification — the session that records its traffic and injects its fault
//! (`crate::certification`). One [`Service`] for the transport; the layers below know nothing
//! of the ones above.

use std::sync::Arc;

use medsettle_certify::{Exchange, Scenario, Session, Step};
use medsettle_server::{BoxFuture, Service, ServicePaths, ServiceRequest, ServiceResponse};

use crate::certification::{CertificationGateway, SessionError, Sessions};
use crate::legacy::{Legacy, LegacyGateway, LegacySettings};
use crate::legacy_commit::PendingEntry;
use crate::national::NationalService;

/// The gateway's HIS-facing service.
pub struct HisService {
    national: NationalService,
    legacy: Option<Legacy>,
    sessions: Sessions,
}

impl HisService {
    /// The national interface alone; certification sessions left open are reloaded.
    pub fn new(national: NationalService) -> Result<HisService, medsettle_store::StoreError> {
        let sessions = Sessions::load(national.store.as_ref())?;
        Ok(HisService {
            national,
            legacy: None,
            sessions,
        })
    }

    /// Serve the legacy dialects of `settings` under `/legacy/`.
    pub fn with_legacy(mut self, settings: LegacySettings) -> Self {
        self.legacy = Some(Legacy::new(settings));
        self
    }

    pub fn national(&self) -> &NationalService {
        &self.national
    }

    fn certification(&self) -> CertificationGateway<'_> {
        CertificationGateway {
            national: &self.national,
            sessions: &self.sessions,
        }
    }

    /// The answer to one HIS request, legacy or national (no certification).
    async fn answer(&self, req: ServiceRequest) -> ServiceResponse {
        if req.path == medsettle_server::routes::PATH_INTERREGION {
            return self.national.interregion(req).await;
        }
        if !req
            .path
            .contains(medsettle_server::routes::PATH_LEGACY_PREFIX)
        {
            return self.national.call(req).await;
        }
        match &self.legacy {
            Some(legacy) => {
                LegacyGateway {
                    national: &self.national,
                    legacy,
                }
                .legacy_call(req)
                .await
            }
            None => crate::legacy::not_served(),
        }
    }

    /// Cancel every two-phase legacy call older than the confirm window; the number
    /// cancelled (`specs/legacy.md` §4).
    pub async fn resolve_expired_legacy(
        &self,
        operator: Arc<medsettle_server::ClientIdentity>,
    ) -> Result<usize, medsettle_legacy::LegacyError> {
        match &self.legacy {
            Some(legacy) => {
                LegacyGateway {
                    national: &self.national,
                    legacy,
                }
                .resolve_expired_legacy(operator)
                .await
            }
            None => Ok(0),
        }
    }

    /// Undecided two-phase legacy calls, optionally of one legacy transaction.
    pub fn undecided(
        &self,
        jybh: Option<&str>,
    ) -> Result<Vec<PendingEntry>, medsettle_store::StoreError> {
        crate::legacy_commit::undecided(self.national.store.as_ref(), jybh)
    }

    /// Open a certification session (`specs/certification.md`).
    pub async fn open_session(
        &self,
        institution: &str,
        scenario: Scenario,
        delay_ms: u64,
    ) -> Result<Session, SessionError> {
        self.certification()
            .open_session(institution, scenario, delay_ms)
            .await
    }

    /// Close a session and grade it.
    pub async fn close_session(&self, id: &str) -> Result<(Session, Vec<Step>), SessionError> {
        self.certification().close_session(id).await
    }

    /// A session and its graded steps so far.
    pub fn session_report(&self, id: &str) -> Result<(Session, Vec<Step>), SessionError> {
        self.certification().session_report(id)
    }

    /// Every session, oldest first.
    pub fn sessions(&self) -> Result<Vec<Session>, SessionError> {
        self.certification().sessions()
    }

    /// A session's recorded exchanges, in the order received.
    pub fn session_traffic(&self, id: &str) -> Result<Vec<Exchange>, SessionError> {
        self.certification().session_traffic(id)
    }
}

impl Service for HisService {
    fn national_paths(&self) -> ServicePaths {
        self.national.national_paths()
    }

    fn call(&self, req: ServiceRequest) -> BoxFuture<'_, ServiceResponse> {
        Box::pin(async move {
            // a peer region's gateway is never under a HIS's certification session
            if req.identity.role == medsettle_server::Role::Peer {
                return self.answer(req).await;
            }
            match self.sessions.for_identity(&req.identity.fixmedins_codes) {
                Some(open) => {
                    self.certification()
                        .certified_call(open, req, |r| self.answer(r))
                        .await
                }
                None => self.answer(req).await,
            }
        })
    }
}
