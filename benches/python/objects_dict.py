"""Object creation: instances of plain classes (attributes in the
instance's values array, 3.11's split dict), in a particle simulation."""

import _harness
import _particles


class Vec:
    def __init__(self, x, y, z):
        self.x = x
        self.y = y
        self.z = z

    def add(self, other):
        return Vec(self.x + other.x, self.y + other.y, self.z + other.z)

    def scale(self, k):
        return Vec(self.x * k, self.y * k, self.z * k)

    def dot(self, other):
        return self.x * other.x + self.y * other.y + self.z * other.z


class Particle:
    def __init__(self, pos, vel, mass, tag):
        self.pos = pos
        self.vel = vel
        self.mass = mass
        self.tag = tag


def work(n):
    return _particles.simulate(Vec, Particle, n)


if __name__ == "__main__":
    _harness.main(work, size=60_000, quick_size=2_000)
