//! The WebRTC link's state machine, sans IO: str0m's `Rtc` with our
//! channels, checks and signals around it. The edge (`edge.rs`) feeds it
//! datagrams, signals, frames and time; tests drive two of them under a
//! virtual clock.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use secours_protocol::signaling::{SdpType, SignalPayload};
use secours_protocol::{Channel, Fingerprint};
use str0m::change::SdpPendingOffer;
use str0m::channel::ChannelId;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcError};

use crate::error::LinkError;
use crate::identity::LocalIdentity;
use crate::input_copy::{self, InputAssembler};
use crate::link::{LinkEvent, LinkStats, PathInfo, PathKind};

use super::candidate::Intake;
use super::lanes::{self, FileGate, INPUT_COPY_STREAM, LANES, VideoAssembler};
use super::sdp;

/// Which side makes the offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Makes the offer and the ICE restarts (ICE controlling).
    Offerer,
    /// Answers.
    Answerer,
}

/// Unsent video above this makes a new frame drop (and be reported):
/// it would only arrive late.
const VIDEO_BACKLOG: usize = 512 * 1024;
/// Frames queued per lane before the driver refuses more (the edge waits).
const LANE_QUEUE: usize = 256;
/// How often str0m reports its statistics.
const STATS_INTERVAL: Duration = Duration::from_millis(500);
/// Disconnected this long, the offerer restarts ICE.
const RESTART_AFTER: Duration = Duration::from_secs(2);

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Our address it leaves from.
    pub source: SocketAddr,
    /// Where to.
    pub destination: SocketAddr,
    /// The bytes.
    pub contents: Vec<u8>,
}

/// One end of a WebRTC link.
pub struct Driver {
    rtc: Rtc,
    role: Role,
    expected: Fingerprint,
    pending_offer: Option<SdpPendingOffer>,
    negotiated: bool,
    ids: [Option<ChannelId>; LANES],
    open: [bool; LANES],
    queues: [VecDeque<Bytes>; LANES],
    input_offset: u64,
    /// Bytes received on the (ordered) input stream itself.
    input_stream_rx: u64,
    input: InputAssembler,
    video: VideoAssembler,
    video_frame: u32,
    file_gate: FileGate,
    intake: Intake,
    loopback: bool,
    /// Our candidates not yet trickled (our SDP has not gone yet).
    held: Vec<String>,
    /// Whether our SDP went (candidates may follow it).
    described: bool,
    transmits: VecDeque<Datagram>,
    events: VecDeque<LinkEvent>,
    signals: VecDeque<SignalPayload>,
    timeout: Instant,
    connected: bool,
    disconnected_since: Option<Instant>,
    closed: bool,
    stats: LinkStats,
    path: PathInfo,
    /// Candidates the peer sent that were not taken.
    pub refused_candidates: u64,
    /// ICE restarts made (offerer).
    pub restarts: u32,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("role", &self.role)
            .field("connected", &self.connected)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

fn rtc_error(e: RtcError) -> LinkError {
    match e {
        RtcError::Dtls(d) => LinkError::Tls(format!("DTLS: {d}")),
        other => LinkError::WebRtc(other.to_string()),
    }
}

impl Driver {
    /// A driver with our session identity as its DTLS certificate, which
    /// accepts only a peer whose SDP fingerprint is `expected`.
    pub fn new(identity: &LocalIdentity, expected: Fingerprint, role: Role, now: Instant) -> Self {
        let mut config = Rtc::builder()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .set_dtls_cert(identity.dtls_cert())
            .set_stats_interval(Some(STATS_INTERVAL))
            // Room for a file window and a keyframe; the file gate keeps
            // what actually waits short.
            .set_sctp_max_buffered_amount(8 * 1024 * 1024);
        // A dead path is seen in seconds, not half a minute (then the
        // offerer restarts ICE).
        config.set_max_stun_rto(Duration::from_millis(1500));
        config.set_max_stun_retransmits(5);
        let rtc = config.build(now);
        Self {
            rtc,
            role,
            expected,
            pending_offer: None,
            negotiated: false,
            ids: [None; LANES],
            open: [false; LANES],
            queues: Default::default(),
            input_offset: 0,
            input_stream_rx: 0,
            input: InputAssembler::new(),
            video: VideoAssembler::default(),
            video_frame: 0,
            file_gate: FileGate::default(),
            intake: Intake::default(),
            loopback: false,
            held: Vec::new(),
            described: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            signals: VecDeque::new(),
            timeout: now,
            connected: false,
            disconnected_since: None,
            closed: false,
            stats: LinkStats::default(),
            path: PathInfo {
                kind: PathKind::WebRtc,
                local: None,
                remote: None,
            },
            refused_candidates: 0,
            restarts: 0,
        }
    }

    /// Our ICE username fragment (the current generation's).
    fn ufrag(&mut self) -> String {
        self.rtc.direct_api().local_ice_credentials().ufrag
    }

    /// Our ICE username fragment, as our candidates name it.
    pub fn local_ufrag(&mut self) -> String {
        self.ufrag()
    }

    /// A local candidate (host, server-reflexive or relayed): given to
    /// str0m and trickled to the peer.
    pub fn add_local_candidate(&mut self, c: Candidate, now: Instant) {
        if c.addr().ip().is_loopback() {
            self.loopback = true;
        }
        if let Some(c) = self.rtc.add_local_candidate(c) {
            self.held.push(c.to_sdp_string());
        }
        self.trickle();
        self.drain(now);
    }

    /// Sends our candidates once our SDP (which names their generation)
    /// has gone: the peer drops candidates of a generation it does not
    /// know yet.
    fn trickle(&mut self) {
        if !self.described || self.held.is_empty() {
            return;
        }
        let ufrag = self.ufrag();
        let max = secours_protocol::signaling::MAX_ICE_CANDIDATES;
        let held = std::mem::take(&mut self.held);
        for chunk in held.chunks(max) {
            self.signals.push_back(SignalPayload::Ice {
                ufrag: ufrag.clone(),
                candidates: chunk.to_vec(),
            });
        }
    }

    /// The offerer's first move: the offer with every data channel.
    pub fn start(&mut self, now: Instant) -> Result<(), LinkError> {
        if self.role != Role::Offerer {
            return Ok(());
        }
        let mut api = self.rtc.sdp_api();
        for (i, config) in lanes::configs().into_iter().enumerate() {
            self.ids[i] = Some(api.add_channel_with_config(config));
        }
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| LinkError::WebRtc("nothing to offer".into()))?;
        self.pending_offer = Some(pending);
        self.signals.push_back(SignalPayload::Sdp {
            sdp_type: SdpType::Offer,
            sdp: offer.to_sdp_string(),
        });
        self.described = true;
        self.trickle();
        self.drain(now);
        Ok(())
    }

    /// An ICE restart (the network changed): new credentials, a new offer.
    /// Only the offerer restarts; the answerer follows its offer.
    pub fn restart(&mut self, now: Instant) {
        if self.role != Role::Offerer || !self.negotiated || self.pending_offer.is_some() {
            return;
        }
        let mut api = self.rtc.sdp_api();
        api.ice_restart(true);
        if let Some((offer, pending)) = api.apply() {
            self.restarts += 1;
            self.pending_offer = Some(pending);
            self.signals.push_back(SignalPayload::Sdp {
                sdp_type: SdpType::Offer,
                sdp: offer.to_sdp_string(),
            });
        }
        self.drain(now);
    }

    /// A signal from the peer. An `Err` ends the attempt (a fingerprint
    /// other than the announced one, an SDP str0m cannot use); refused
    /// candidates are only counted.
    pub fn handle_signal(&mut self, signal: &SignalPayload, now: Instant) -> Result<(), LinkError> {
        if self.closed {
            return Err(LinkError::Closed);
        }
        match signal {
            SignalPayload::Sdp {
                sdp_type: SdpType::Offer,
                sdp,
            } => {
                if self.role != Role::Answerer {
                    return Err(LinkError::Violation("an offer to the offerer".into()));
                }
                let (checked, offer) = sdp::offer(sdp, self.expected, self.loopback)?;
                self.intake.generation(&checked.ufrag);
                let answer = self.rtc.sdp_api().accept_offer(offer).map_err(rtc_error)?;
                if !self.negotiated {
                    let mut api = self.rtc.direct_api();
                    for (i, config) in lanes::configs().into_iter().enumerate() {
                        self.ids[i] = Some(api.create_data_channel(config));
                    }
                }
                self.negotiated = true;
                self.signals.push_back(SignalPayload::Sdp {
                    sdp_type: SdpType::Answer,
                    sdp: answer.to_sdp_string(),
                });
                self.described = true;
                self.trickle();
            }
            SignalPayload::Sdp {
                sdp_type: SdpType::Answer,
                sdp,
            } => {
                let Some(pending) = self.pending_offer.take() else {
                    return Err(LinkError::Violation("an answer to no offer".into()));
                };
                let (checked, answer) = sdp::answer(sdp, self.expected, self.loopback)?;
                self.intake.generation(&checked.ufrag);
                self.rtc
                    .sdp_api()
                    .accept_answer(pending, answer)
                    .map_err(rtc_error)?;
                self.negotiated = true;
            }
            SignalPayload::Ice { ufrag, candidates } => {
                for text in candidates
                    .iter()
                    .take(secours_protocol::signaling::MAX_ICE_CANDIDATES)
                {
                    match self.intake.take(ufrag, text, self.loopback) {
                        Ok(c) => self.rtc.add_remote_candidate(c),
                        Err(e) => tracing::debug!("WebRTC: candidate refused: {e}"),
                    }
                    self.drain(now);
                }
                self.refused_candidates = self.intake.refused;
            }
            // Not this path's (fingerprints and relay are the connector's).
            _ => {}
        }
        self.drain(now);
        Ok(())
    }

    /// A datagram from the socket (ignored if it is not ICE, DTLS or SRTP).
    pub fn handle_datagram(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        bytes: &[u8],
        now: Instant,
    ) {
        let Ok(r) = Receive::new(Protocol::Udp, source, destination, bytes) else {
            return;
        };
        let input = Input::Receive(now, r);
        if !self.rtc.accepts(&input) {
            return;
        }
        if let Err(e) = self.rtc.handle_input(input) {
            self.fail(rtc_error(e));
        }
        self.drain(now);
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            self.fail(rtc_error(e));
        }
        if let Some(since) = self.disconnected_since
            && now.saturating_duration_since(since) >= RESTART_AFTER
        {
            self.disconnected_since = Some(now);
            self.restart(now);
        }
        self.drain(now);
    }

    /// Whether `channel` takes another frame now (the edge waits if not).
    pub fn has_room(&self, channel: Channel) -> bool {
        self.queues[usize::from(lanes::stream_id(channel))].len() < LANE_QUEUE
    }

    /// One whole frame on its channel.
    pub fn send(&mut self, channel: Channel, frame: Bytes, now: Instant) {
        if self.closed {
            return;
        }
        self.stats.bytes_sent += frame.len() as u64;
        let lane = usize::from(lanes::stream_id(channel));
        match channel {
            Channel::Input => {
                let copy = input_copy::encode(self.input_offset, &frame);
                self.input_offset += frame.len() as u64;
                self.queues[lane].push_back(frame);
                self.queues[usize::from(INPUT_COPY_STREAM)].push_back(copy);
            }
            Channel::Video => {
                let unsent =
                    self.buffered(lane) + self.queues[lane].iter().map(Bytes::len).sum::<usize>();
                self.video_frame = self.video_frame.wrapping_add(1);
                match lanes::video_pieces(self.video_frame, &frame) {
                    Some(pieces) if unsent <= VIDEO_BACKLOG => self.queues[lane].extend(pieces),
                    _ => {
                        self.stats.video_dropped += 1;
                        self.events.push_back(LinkEvent::VideoDropped { frames: 1 });
                    }
                }
            }
            _ => {
                let mut rest = frame;
                while rest.len() > lanes::STREAM_PIECE {
                    let piece = rest.split_to(lanes::STREAM_PIECE);
                    self.queues[lane].push_back(piece);
                }
                if !rest.is_empty() {
                    self.queues[lane].push_back(rest);
                }
            }
        }
        self.flush(now);
        self.drain(now);
    }

    fn buffered(&mut self, lane: usize) -> usize {
        match self.ids[lane].and_then(|id| self.rtc.channel(id)) {
            Some(mut ch) => ch.buffered_amount(),
            None => 0,
        }
    }

    /// Writes queued messages, the lanes in priority order: input and its
    /// copies, control, chat, video, clipboard, and file data while the
    /// file gate is open.
    fn flush(&mut self, now: Instant) {
        if !self.connected {
            return;
        }
        const ORDER: [u16; LANES] = [1, INPUT_COPY_STREAM, 0, 5, 2, 3, 4];
        for lane in ORDER.map(usize::from) {
            if !self.open[lane] {
                continue;
            }
            let Some(id) = self.ids[lane] else { continue };
            while let Some(msg) = self.queues[lane].front().cloned() {
                if lane == usize::from(lanes::stream_id(Channel::File)) {
                    let buffered = self.buffered(lane);
                    if !self.file_gate.open(now, buffered, self.stats.rtt) {
                        break;
                    }
                }
                let Some(mut ch) = self.rtc.channel(id) else {
                    break;
                };
                match ch.write(true, &msg) {
                    Ok(true) => {
                        if lane == usize::from(lanes::stream_id(Channel::File)) {
                            self.file_gate.wrote(msg.len());
                        }
                        self.queues[lane].pop_front();
                    }
                    Ok(false) => break,
                    Err(e) => {
                        self.fail(rtc_error(e));
                        return;
                    }
                }
                self.drain_outputs(now);
            }
        }
    }

    /// The peer closed a channel or the connection.
    fn ended(&mut self) {
        if !self.closed {
            self.closed = true;
            self.events.push_back(LinkEvent::Closed(None));
        }
    }

    fn fail(&mut self, e: LinkError) {
        if !self.closed {
            tracing::debug!("WebRTC link ends: {e}");
            self.closed = true;
            self.events.push_back(LinkEvent::Closed(Some(e)));
        }
    }

    /// Closes the link (SCTP and DTLS shut down; the peer sees it close).
    pub fn close(&mut self, now: Instant) {
        if !self.closed {
            self.rtc.disconnect();
            self.closed = true;
            self.events.push_back(LinkEvent::Closed(None));
        }
        self.drain_outputs(now);
    }

    /// Drains str0m and writes what became writable.
    fn drain(&mut self, now: Instant) {
        self.drain_outputs(now);
        self.flush(now);
    }

    fn drain_outputs(&mut self, now: Instant) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.timeout = t;
                    return;
                }
                Ok(Output::Transmit(t)) => self.transmits.push_back(Datagram {
                    source: t.source,
                    destination: t.destination,
                    contents: t.contents.to_vec(),
                }),
                Ok(Output::Event(e)) => self.on_event(e, now),
                Err(e) => {
                    self.fail(rtc_error(e));
                    self.timeout = now + Duration::from_secs(3600);
                    return;
                }
            }
        }
    }

    fn on_event(&mut self, e: Event, now: Instant) {
        match e {
            Event::Connected => {
                // str0m checked the DTLS certificate against the SDP's
                // fingerprint, which we checked against the announced one.
                let presented = self
                    .rtc
                    .direct_api()
                    .remote_dtls_fingerprint()
                    .and_then(|f| <[u8; 32]>::try_from(f.bytes.as_slice()).ok())
                    .map(Fingerprint::from_bytes);
                if presented != Some(self.expected) {
                    self.fail(match presented {
                        Some(p) => crate::identity::FingerprintMismatch {
                            expected: self.expected,
                            presented: p,
                        }
                        .into(),
                        None => LinkError::Tls("DTLS: no peer certificate".into()),
                    });
                    return;
                }
                self.connected = true;
            }
            Event::IceConnectionStateChange(s) => match s {
                IceConnectionState::Disconnected => {
                    self.disconnected_since.get_or_insert(now);
                }
                IceConnectionState::Connected | IceConnectionState::Completed => {
                    self.disconnected_since = None;
                }
                _ => {}
            },
            Event::ChannelOpen(id, _) => {
                if let Some(lane) = self.ids.iter().position(|x| *x == Some(id)) {
                    self.open[lane] = true;
                }
            }
            Event::ChannelData(d) => {
                let Some(lane) = self.ids.iter().position(|x| *x == Some(d.id)) else {
                    return;
                };
                self.deliver(lane, Bytes::from(d.data));
            }
            Event::ChannelClose(id) if self.ids.contains(&Some(id)) => self.ended(),
            Event::PeerStats(s) => {
                if let Some(rtt) = s.rtt.or_else(|| {
                    s.selected_candidate_pair
                        .as_ref()
                        .and_then(|p| p.current_round_trip_time)
                }) {
                    self.stats.rtt = rtt;
                }
                if let Some(p) = s.selected_candidate_pair {
                    self.path.local = Some(p.local.addr);
                    self.path.remote = Some(p.remote.addr);
                }
            }
            Event::Closed => self.ended(),
            _ => {}
        }
    }

    fn deliver(&mut self, lane: usize, data: Bytes) {
        let to_link = |channel, data: Bytes| LinkEvent::Data { channel, data };
        match lanes::channel_of(lane as u16) {
            Some(Channel::Input) => {
                let offset = self.input_stream_rx;
                self.input_stream_rx += data.len() as u64;
                for b in self.input.from_stream(offset, data) {
                    self.stats.bytes_received += b.len() as u64;
                    self.events.push_back(to_link(Channel::Input, b));
                }
            }
            None => {
                // An input copy: `offset | bytes`.
                if let Some((offset, bytes)) = input_copy::decode(&data) {
                    for b in self.input.from_copy(offset, bytes) {
                        self.stats.bytes_received += b.len() as u64;
                        self.events.push_back(to_link(Channel::Input, b));
                    }
                }
            }
            Some(Channel::Video) => match self.video.push(&data) {
                Ok(Some(frame)) => {
                    self.stats.bytes_received += frame.len() as u64;
                    self.events.push_back(to_link(Channel::Video, frame));
                }
                Ok(None) => {}
                Err(why) => tracing::debug!("WebRTC: {why}"),
            },
            Some(c) => {
                self.stats.bytes_received += data.len() as u64;
                self.events.push_back(to_link(c, data));
            }
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Datagram> {
        self.transmits.pop_front()
    }

    /// The next event for the link's owner.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// The next signal for the peer.
    pub fn poll_signal(&mut self) -> Option<SignalPayload> {
        self.signals.pop_front()
    }

    /// When [`Driver::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Instant {
        self.timeout
    }

    /// Whether every data channel is open (the link is usable).
    pub fn is_open(&self) -> bool {
        self.connected && self.open.iter().all(|o| *o)
    }

    /// Whether the link ended.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Current measurements.
    pub fn stats(&self) -> LinkStats {
        LinkStats {
            send_rate_bps: (self.file_gate.rate_bytes() * 8.0) as u64,
            ..self.stats
        }
    }

    /// The path: our and the peer's address of the selected ICE pair.
    pub fn path(&self) -> PathInfo {
        self.path
    }
}
