<?php
// Top-level code of an included file (a shape of shapes.php).
gp_leaf('include');
