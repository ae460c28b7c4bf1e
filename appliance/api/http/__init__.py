"""Plain HTTP: uploads, audio with Range, zip and xlsx downloads, captcha, health."""
