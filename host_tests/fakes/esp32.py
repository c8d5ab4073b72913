"""Test-only stand-in for the esp32 port's `esp32` module (the sensor the board reads)."""

RAW_TEMPERATURE = [122]  # degrees Fahrenheit, as the ESP32's uncalibrated sensor reports


def raw_temperature():
    return RAW_TEMPERATURE[0]
