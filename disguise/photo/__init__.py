"""A person's photo: loading any upload safely, finding the face, aligning it to CelebA's frame,
drawing an edit on the photo itself (the photo view), and the exports (strips, sheets, GIFs)."""
