"""python -m classit_ray.toyworld OUT --words N --seed S: write the toy BabyLM world."""

from classit_ray.toyworld.world import main

if __name__ == "__main__":
    main()
