"""Test doubles and rigs for tests/, bench/ and scripts/: a scripted sound device, a sine vocoder, a private
PulseAudio server, an engine event collector, synthetic and espeak-ng speech, a tiny training set. Not part of
the product: the wheel leaves this package out and no product module (app, core, models, ui, main) imports it."""
