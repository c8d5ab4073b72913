"""Unix board: the hardware seen by the firmware when it runs on a PC.

Nothing here touches real hardware: the network is the host's, the device id
comes from the environment, and sensors are simulated deterministically from
time so runs are reproducible.
"""

import os


def unique_id():
    """The device id: $FIELDNODE_DEVICE_ID, else 'unix-node'."""
    return os.getenv("FIELDNODE_DEVICE_ID") or "unix-node"


def default_broker():
    """The broker URL to use when the config names none."""
    return os.getenv("FIELDNODE_BROKER") or "mqtt://127.0.0.1:1883"


def network_up(timeout_ms=0):
    """The host's network is already up."""
    return True


def read_sensor(name, t_ms):
    """A simulated reading at time t_ms: a slow triangle wave per sensor."""
    phase = (t_ms // 1000) % 600            # 10-minute period
    tri = phase if phase < 300 else 600 - phase
    if name == "temperature":
        return 18.0 + tri / 30.0            # 18.0 .. 28.0 C
    if name == "humidity":
        return 40.0 + tri / 15.0            # 40 .. 60 %
    raise ValueError("unknown sensor %r" % name)
