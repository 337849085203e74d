//! The whole screen pipeline on the synthetic scenes: capture -> damage ->
//! convert -> AV1 (both backends) -> dav1d, measured against the source.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use secours_applet::{Scene, ScreenCapture, SyntheticScreen};
use secours_codec::convert::{psnr_y, to_i420};
use secours_codec::{Backend, Decoder, I420Frame, PipelineSettings, ScreenEncoder};

const W: u32 = 640;
const H: u32 = 360;
const FRAMES: u64 = 12;
const FRAME_US: u64 = 33_333;

/// Minimum PSNR-Y of every decoded frame, per scene, at 3 Mbit/s and 640x360.
/// Screen content with a real-time encoder sits well above these; a broken
/// colour path or a decoder fed the wrong frames falls far below.
fn floor(scene: Scene) -> f64 {
    match scene {
        Scene::Scrolling => 28.0,
        Scene::Typing | Scene::Idle | Scene::Video => 34.0,
    }
}

struct Run {
    sent: usize,
    decoded: usize,
    min_psnr: f64,
}

fn run(backend: Backend, scene: Scene) -> Run {
    let mut screen = SyntheticScreen::new(scene, W, H).unwrap();
    let mut settings = PipelineSettings::new(backend);
    settings.bitrate_kbps = 3_000;
    settings.threads = 2;
    settings.adapt_resolution = false;
    let mut encoder = ScreenEncoder::new(settings);
    let mut decoder = Decoder::new(2).unwrap();
    let mut sources: HashMap<u64, I420Frame> = HashMap::new();
    let mut out = Vec::new();
    for i in 0..FRAMES {
        let cap = screen.capture().unwrap();
        let t = i * FRAME_US;
        sources.insert(t, to_i420(&cap.frame).unwrap());
        let (frames, report) = encoder
            .push(&cap.frame, t, cap.damage_hints.as_deref())
            .unwrap();
        assert_eq!(report.skipped, i > 0 && scene == Scene::Idle, "frame {i}");
        if report.skipped {
            assert_eq!(
                report.held, 0,
                "nothing stays held while the screen is idle"
            );
        }
        out.extend(frames);
    }
    out.extend(encoder.flush().unwrap());
    let mut min_psnr = f64::MAX;
    let mut decoded = 0;
    for f in &out {
        assert_eq!((f.width, f.height), (W, H));
        for d in decoder.decode(f.data.clone(), f.capture_us).unwrap() {
            let source = &sources[&d.pts_us];
            let q = psnr_y(source, &d.frame).unwrap();
            if std::env::var("PSNR_DEBUG").is_ok() {
                eprintln!(
                    "{backend} {scene:?} pts {} keyframe {} psnr {q:.1}",
                    d.pts_us, f.keyframe
                );
            }
            min_psnr = min_psnr.min(q);
            decoded += 1;
        }
    }
    Run {
        sent: out.len(),
        decoded,
        min_psnr,
    }
}

fn check_all_scenes(backend: Backend) {
    for scene in Scene::ALL {
        let r = run(backend, scene);
        println!(
            "{backend} {}: {} frames sent, {} decoded, min PSNR-Y {:.1} dB",
            scene.name(),
            r.sent,
            r.decoded,
            r.min_psnr
        );
        assert_eq!(r.sent, r.decoded, "every frame sent decodes");
        assert!(
            r.min_psnr >= floor(scene),
            "{backend} {scene:?}: {:.1} dB",
            r.min_psnr
        );
        if scene == Scene::Idle {
            assert_eq!(
                r.sent, 1,
                "an idle screen sends its first frame and nothing more"
            );
        } else {
            assert_eq!(r.sent as u64, FRAMES, "{scene:?}: one frame per change");
        }
    }
}

#[test]
fn aom_round_trip_on_every_scene() {
    check_all_scenes(Backend::Aom);
}

#[test]
fn rav1e_round_trip_on_every_scene() {
    check_all_scenes(Backend::Rav1e);
}

/// An encoder that cannot keep up scales the picture down step by step;
/// every frame still decodes, at the size it says. The budget is 1 us (a
/// million frames a second), which no encoder meets: not a timing race.
#[test]
fn resolution_adapts_when_the_encoder_falls_behind() {
    let mut screen = SyntheticScreen::new(Scene::Scrolling, W, H).unwrap();
    let mut settings = PipelineSettings::new(Backend::Aom);
    settings.fps = 1_000_000;
    settings.threads = 2;
    let mut encoder = ScreenEncoder::new(settings);
    let mut decoder = Decoder::new(2).unwrap();
    let mut sizes = Vec::new();
    for i in 0..30u64 {
        let cap = screen.capture().unwrap();
        let (frames, _) = encoder.push(&cap.frame, i * FRAME_US, None).unwrap();
        for f in frames {
            let pictures = decoder.decode(f.data.clone(), f.capture_us).unwrap();
            assert_eq!(pictures.len(), 1);
            let p = &pictures[0].frame;
            assert_eq!((p.width(), p.height()), (f.width, f.height));
            if sizes.last() != Some(&(f.width, f.height)) {
                assert!(f.keyframe, "a new size starts with a keyframe");
                sizes.push((f.width, f.height));
            }
        }
    }
    assert_eq!(sizes, vec![(640, 360), (480, 270), (320, 180)]);
}
