import miniaudio
import numpy as np

from tests.support.audio import best_correlation, pcm_of_wav, resample, speech_wav


def test_upload_search_play(appliance, unique):
    original = speech_wav("hello")
    r = appliance.upload(original, caller=unique)
    assert r.status_code == 201, r.text
    body = r.json()
    found = appliance.api.data(
        'query($c: String!) { recordings(filter: {caller: $c}) { total items { id sn duration audioUrl } } }',
        {"c": unique},
    )["recordings"]
    assert found["total"] == 1
    assert found["items"][0]["id"] == body["id"]
    audio = appliance.api.http.get(found["items"][0]["audioUrl"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
    # What plays back is the word that was uploaded.
    ref, rate = pcm_of_wav(original)
    decoded = miniaudio.mp3_read_s16(audio.content)
    got = resample(np.frombuffer(decoded.samples.tobytes(), dtype="<i2").astype(np.float64), decoded.sample_rate, rate)
    assert abs(len(got) - len(ref)) / rate < 0.2
    assert best_correlation(ref, got, max_lag=3000) > 0.9
