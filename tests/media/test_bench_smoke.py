"""The media benchmark still runs end to end (tiny audience; numbers are not judged here)."""

from __future__ import annotations

from ruang.bench import media as bench


async def test_media_benchmark_runs_and_reports_every_field() -> None:
    result = await bench.run(listeners=4, real_listeners=1, seconds=2.0, prebuffer=2,
                             event_loops=2, jitter_frames=1, workers=1, joins_per_real=1)
    for key in ("mouth_to_ear_ms_p50", "mouth_to_ear_ms_p95", "join_to_first_audio_ms_p50",
                "janus_cpu_pct_per_listener", "listeners", "tone_hz_measured"):
        assert key in result
    assert result["listeners"] == 5
    assert result["join_samples"] == 1
    assert abs(result["tone_hz_measured"] - 440) < 2
    assert result["mouth_to_ear_samples"] >= 1
    assert 0 < result["mouth_to_ear_ms_p50"] < 1000
    assert result["light_packets_received_ratio"] > 0.9
