"""The particle simulation behind objects_dict.py and objects_slots.py.

Both workloads run the same code over their own pair of classes (a 3-vector
and a particle), one with ``__dict__``-backed instances, one with
``__slots__``: the difference is only in how CPython lays out the objects.

Each step makes a few short-lived vectors per particle (the churn), and
replaces one particle in eight with a new one, so that long-lived objects
are freed and made all through the run (holes in the pools, not only a
stack of temporaries).
"""

STEPS = 12
GRAVITY = -9.81
DT = 0.01


def simulate(vec, particle, n):
    """Runs ``STEPS`` steps of ``n`` particles made with the classes
    ``vec(x, y, z)`` and ``particle(pos, vel, mass, tag)``; returns a digest
    of the final state."""
    particles = [particle(vec(i * 0.5, i * 0.25, 1000.0 + i % 97),
                          vec((i % 13) - 6.0, (i % 7) - 3.0, 0.0),
                          1.0 + (i % 5), "p%d" % i)
                 for i in range(n)]
    gravity = vec(0.0, 0.0, GRAVITY)
    born = n
    for step in range(STEPS):
        for p in particles:
            # Semi-implicit Euler: new velocity, then new position; every
            # operation makes a new vector.
            p.vel = p.vel.add(gravity.scale(DT))
            p.pos = p.pos.add(p.vel.scale(DT))
            if p.pos.z < 0.0:
                p.pos = vec(p.pos.x, p.pos.y, -p.pos.z)
                p.vel = vec(p.vel.x, p.vel.y, -p.vel.z * 0.9)
        # One particle in eight leaves and a new one takes its place.
        for i in range(step % 8, n, 8):
            old = particles[i]
            particles[i] = particle(vec(old.pos.y, old.pos.x, 500.0),
                                    vec(0.0, 0.0, 0.0), old.mass,
                                    "p%d" % born)
            born += 1
    energy = sum(p.mass * p.vel.dot(p.vel) for p in particles)
    height = sum(p.pos.z for p in particles)
    return "%d %.6e %.6e" % (born, energy, height)
