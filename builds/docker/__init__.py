"""Herald's Docker layer, one concern a module:

- environment: a job's Docker environment, the context manager the runner
  drives (services, step containers, `docker build` steps, cleanup);
- client: the engine client kept per worker process, and error texts;
- objects: what a job's containers, networks and volumes are called and
  labelled, and how they are all removed;
- network: the job's bridge, the shared isolated bridge, the network sandbox;
- workspace: the job's volume holding the checkout;
- images: looking images up and pulling them;
- image_build: a `docker build` step and the per-repository build cache;
- build_context: a build context resolved and packed without leaving the
  checkout;
- limits: what every container runs with.
"""
