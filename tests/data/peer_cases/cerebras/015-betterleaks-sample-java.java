String cerebrasToken = "csk-abjicxmdys90f9y3y2p67a4hog0tzqo71jowt5q2ku8pglyh";
